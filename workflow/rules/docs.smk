"""The docs rules: rule caption (one report caption) and rule docs (`snakemake docs`); see
docs_common.smk."""


rule caption:
    input:
        template=str(CAPTION_TEMPLATES / "{name}.rst"),
        tables=caption_tables,
    output:
        "results/report/{name}.rst",
    wildcard_constraints:
        name=r"\w+",
    params:
        settings=caption_params,
    log:
        "logs/report/{name}.log",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study docs:caption_rule {input.template} --params {params.settings:q} --out {output}"
        " > {log} 2>&1"


rule docs:
    input:
        docs_inputs(),
    params:
        settings=as_json({"root": str(DOCS_ROOT), "config": docs_render.config_subset(config, docs_config_keys())}),
    log:
        "logs/docs.log",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study docs:docs_rule {input} --params {params.settings:q} > {log} 2>&1"
