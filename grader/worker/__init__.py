"""The student-side half of the judge: runs the submission, returns plain data.

Everything in this folder is standard library only, because in the sandbox it
is copied where the student's uid can read it and nothing else of the grader.
"""
