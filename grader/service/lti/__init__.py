"""LTI 1.3 for the service: the tool's key pair (:mod:`.keys`), the login and launch
done by PyLTI1p3 (:mod:`.tool`), and grades posted back through Assignment and Grade
Services (:mod:`.passback`). Platforms are registered per course with
``grade serve lti add``."""
