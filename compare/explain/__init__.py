"""`python -m compare explain CASE`: from "the check fails" to "this layer's backward is wrong".

records.py records every module's tensors on both sides during one step (torch hooks; wrappers around manual's
forward/backward); replay.py replays a case to its first failing step and records that step; verdict.py compares
the records module by module and names the first module that goes wrong, with its own finite-difference check
(fd_check.py) and the manual code that computes it (sources.py); report.py renders it; plot.py draws each
tensor's error over its bound, step by step.
"""
