"""The map of the grader's checks that the student kit shows (``grader_checks.json``).

``check.py`` in the kit reads it to show, for each check of the rubric, its
title and points, the public tests about it and what only the grader can
tell. Titles and points come from :mod:`grader.rubric` whenever a kit is
built, so the kit never disagrees with the grader; the sentences below say
what the hidden tests add, in general terms: they name no probe, input, size
or value (a test checks that they hold no digit).
"""

from __future__ import annotations

import json
from typing import Any

from .rubric import CHECKS, MAX_SCORE

MAP_NAME = "grader_checks.json"

GRADER_ONLY: dict[str, str] = {
    "shapes": "whether every part keeps its shape at the sizes and lengths the grader picks.",
    "embedding": "whether the lookup and its gradients hold for the grader's own table values "
    "and indices.",
    "layernorm": "whether the formula holds on the grader's own vectors and eps, nearly "
    "constant vectors included.",
    "feedforward": "whether the hidden size and the place of the activation hold for the "
    "grader's own sizes, weights and inputs.",
    "attention": "whether the weights sum to one and depend on the query for the grader's own "
    "weights, sizes and rows.",
    "causal_mask": "whether the mask holds at layer sizes drawn for each grading, with every "
    "input run in a fresh process: a mask that works only at the public tests' sizes, or that "
    "remembers earlier inputs, fails there.",
    "residual": "whether the zero-weight identity holds for the grader's own sizes and inputs.",
    "blocks": "whether exactly num_layers blocks are built and the final norm runs once, after "
    "the last block, for the grader's own model.",
    "positional": "whether positions count from the start for the grader's own tokens and weights.",
    "max_seq_len": "whether the grader's own lengths, up to and beyond its max_seq_len, are "
    "accepted or refused as they should be.",
    "cross_entropy": "whether value and gradient match on the grader's own logits and targets, "
    "huge logits included.",
    "gradients": "whether backward() agrees with finite differences on the grader's own model, "
    "weights and directions, with the grader's own loss.",
    "parameters": "whether parameters() lists every weight once, and forward neither replaces "
    "nor changes them, on the grader's own model.",
    "training": "whether plain SGD, run by the grader with its own loss on its own sequence, "
    "lowers the loss quickly enough.",
    "generate_output": "whether the output is right for the grader's own start ids and lengths.",
    "generate_cropping": "whether every call of the model gets exactly the last max_seq_len "
    "tokens, for the grader's own start ids and max_seq_len.",
    "generate_sampling": "whether the samples follow the softmax of the last position's logits "
    "chosen by the grader, at a strict statistical threshold.",
    "generate_temperature": "whether temperature scales the grader's own logits at several "
    "temperatures, low and high.",
}


def checks_map() -> dict[str, Any]:
    """The map as data: every rubric check, in rubric order."""
    missing = sorted({c.id for c in CHECKS} - set(GRADER_ONLY))
    if missing:
        raise KeyError(f"no grader_only sentence for the checks {missing}")
    return {
        "about": "The grader's checks (written by `grade student-kit` from its rubric). "
        "check.py shows them with the public tests about each.",
        "max_score": _number(MAX_SCORE),
        "checks": [
            {
                "id": check.id,
                "title": check.title,
                "points": _number(check.points),
                "grader_only": GRADER_ONLY[check.id],
            }
            for check in CHECKS
        ],
    }


def checks_json() -> str:
    """The text of ``grader_checks.json``."""
    return json.dumps(checks_map(), indent=2, ensure_ascii=False) + "\n"


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x
