"""Post-mortem reports of Data Dispatcher projects: a generated notebook, executed, and one self-contained HTML file.

>>> from dd_notebook.report import write_report
>>> files = write_report([42], "reports/", url="https://dd.example/dd/data")
>>> files.notebook, files.html

``build_report`` gives the notebook without running it; ``write_report``
builds, validates, executes (nbclient, kernel ``python3``) and exports it
(nbconvert ``lab`` template, code hidden, nothing loaded from outside).
The report only reads: no login is needed where the server lets anyone read
projects and handle logs.
"""

from .builder import build_report, inject_parameters
from .run import ReportError, ReportFiles, export_html, write_report

__all__ = ["ReportError", "ReportFiles", "build_report", "export_html", "inject_parameters", "write_report"]
