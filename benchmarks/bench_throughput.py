"""Throughput of jaxviz vs Captum (issue 6 items 1, 2, 6). Filled in below the runner's commit."""


def run() -> str:
    return "## Throughput: jaxviz vs Captum\n\n(pending)"
