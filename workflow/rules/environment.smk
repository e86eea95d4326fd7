"""The run's record of itself: results/environment.json (icl_study/environment.py: record_rule),
package versions, Python, torch threads, CPU model, and the workflow checkout's git commit and
whether its tree was dirty (null outside git). The commit and the tree state
are the rule's params, read when the workflow is parsed, so a new commit or an edit re-records it.
"""

from icl_study.environment import source_state


rule environment:
    output:
        report("results/environment.json", caption="../report/environment.rst", category=REPORT_CATEGORIES["claims"]),
    params:
        record=as_json({"repo": str(workflow.basedir), **source_state(workflow.basedir)}),
    log:
        "logs/environment.log",
    localrule: True
    conda:
        "../envs/icl_study.yaml"
    shell:
        "python -m icl_study environment:record_rule --params {params.record:q} --out {output:q} > {log:q} 2>&1"
