"""The judge: runs inside the sandbox, owns the hidden suite and the verdict.

It never imports the student's module; a separate worker process does (see
``grader.worker``) and answers with plain data.
"""
