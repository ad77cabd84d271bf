"""The class report (``report.html``), its pages and the similarity between submissions.

``html`` renders the report, ``student`` and ``pairs`` the students' and the similar
pairs' own pages, ``pages`` writes them all, ``triage`` says who needs help,
``plots`` draws the charts (matplotlib, inline SVG), ``similarity`` finds pairs of
submissions that share much code (``similarity.compare_submissions``).

Nothing is imported here: the CLI reads its default from ``triage`` without
loading numpy, matplotlib or jinja2, which only the report needs.
"""
