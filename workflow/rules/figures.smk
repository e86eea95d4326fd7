"""Every figure rule, generated from the plan: `fig_<name>` for each `Figure` a study declares in
its plan module (icl_study/studies/<study>_plan.py: `<study>_figures`), with its input tables, its
plotting entry (params.entry), its settings (params.figure, JSON) and its outputs, each png a
report entry under the study's category, with its rendered caption (rule caption, docs.smk) once
the figure has a caption template (workflow/report/templates/<figure>.rst, or the `caption` its
`Figure` declares).
Figures read tables only, so they run locally.
"""


# The shell text is a literal (see train.smk); every other directive is evaluated here.
for figure in PLAN.figure_rules:

    rule:
        name:
            f"fig_{figure.name}"
        input:
            *figure.inputs,
            **figure.named_inputs,
        output:
            **{key: report(path, caption=caption(shows) if PLAN.caption_text(shows) is not None else None,
                           category=REPORT_CATEGORIES[figure.study]) if shows else path
               for key, (path, shows) in figure.outputs().items()},
        log:
            f"logs/figures/{figure.name}.log",
        params:
            entry=figure.entry,
            figure=figure.settings,
        localrule: True
        conda:
            "../envs/icl_study.yaml"
        shell:
            "python -m icl_study {params.entry} {input:q} --params {params.figure:q} --out {output:q} > {log:q} 2>&1"
