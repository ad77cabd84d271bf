"""Static checks on a submission's source, before any of it runs.

In the process backend (Gradescope) this policy is the only barrier between a
submission and the grader's machine, so it is an allowlist: every construct,
builtin, module attribute and attribute name a submission uses must be one
known to be harmless; anything else is refused with its line. A new Python
syntax, builtin or library helper stays refused until it is reviewed here.

The promise: code that passes computes with numbers, strings, containers, its
own classes and the allowed modules' public API, and never obtains a module
object, a frame, a traceback, a code object, a function's globals or closure,
the builtins namespace, the metaclass ``type`` (which builds a class from any
namespace), an attribute chosen by a string at run time, or a string that
something evaluates. Each rule keeps one of those out of reach:

1. Syntax: an explicit allowlist of AST node types (no async/await, except*,
   ``type X = ...``). No ``metaclass=`` or ``**kw`` in a class, no import in a
   class body (it would store a module as an attribute).
2. Builtins: a builtin name must be in ``ALLOWED_BUILTINS``; any other (eval,
   open, vars, __import__...) is refused wherever it appears, even as a
   variable. ``getattr``/``setattr`` only as direct calls with a literal name
   that passes rule 4; ``hasattr`` with any name (it only returns a bool).
   ``type`` takes one argument, and ``type(x)``/``x.__class__`` are only read
   (``.__name__``), tested with ``is``, compared with ``==``/``in`` against
   other types and builtin classes, passed to isinstance/issubclass or turned
   into text: anything else could hand a metaclass to the student (``==``
   calls the other operand's ``__eq__``). The builtins the checks rely on may
   not be rebound.
3. Modules: only ``ALLOWED_MODULES``, no star or relative import. A name bound
   to a module is only the base of an attribute access, so no module flows into
   a variable; imported names are never rebound; imported modules and classes
   are never assigned to or deleted from. ``mod.attr`` must be in the module's
   allowlist (``module_names``): every name exists at run time (a failed lookup
   would raise an AttributeError holding the module), none is a module or a
   metaclass, and helpers that evaluate strings, access attributes by name or
   build classes from data are left out.
4. Attributes: dunders only from ``ALLOWED_DUNDER_ATTRS`` (plus rule 2's
   ``__class__``; ``__dict__`` only printed, in an f-string, measured or listed
   at once). No attribute names of frames, code objects, tracebacks,
   generators and cells (introspected) nor ``obj``. A private name (``_x``)
   only if the file or the pack defines it and it is not an internal name of
   the standard library (introspected), so ``Enum._convert_`` or
   ``ForwardRef._evaluate`` stay out of reach. ``.format``/``.format_map``
   only called on a literal whose fields read no attribute or item. The same
   for ``case C(name=...)``; positional sub-patterns (which read the names in
   ``__match_args__``) only for builtins such as ``int(x)``.
5. Dunder names: only ``__name__``, ``__doc__``, ``__file__``, ``__debug__``
   are read; module metadata (``__all__``...) is bound at module level and
   special methods, ``__slots__``, ``__match_args__``, ``__hash__`` in a class
   body. Not definable: the copy/pickle protocol (copy turns its result into
   calls and attribute writes by name), hooks that see a class being built
   (``__init_subclass__``, ``__set_name__``, descriptors' ``__get__``), and
   hooks that fake isinstance (``__subclasshook__``...).
6. Evaluated strings: a string annotation must parse as an expression passing
   these same checks. ``dataclass`` writes field names into code it executes,
   so it is only a class decorator, the innermost one, not on an Enum or
   NamedTuple, and ``field()`` is only the value of a field in its body, never
   read there: its Field objects cannot be renamed. An Enum class must define
   a member: the functional ``Enum("Name", ...)`` API takes member and dunder
   names as data.

Where each part lives (one job a file):

- ``allowlists.py``: the tables of rules 1, 2, 4 and 5 (syntax, builtins,
  attributes, dunder names), with what is read from the interpreter itself;
  its docstring says how to add a name safely.
- ``modules.py``: rule 3's tables, the allowed modules and the names of each.
- ``scope.py``: the source parsed, every node's scope and the names bound by
  imports (pass 1: what the file defines).
- ``classes.py``: rule 6's classes built from data (dataclass, field, Enum).
- ``attributes.py``: rules 2 and 4 on attribute access, ``type(x)``,
  ``getattr``/``setattr``, ``.format`` and class patterns.
- ``checker.py``: the visitor (pass 2) for names, bindings, imports, classes
  and string annotations, built on the three above.
- ``pack.py``: the pack's API, read from ``engine.py`` and ``nn.py``.
- ``check.py``: the entry points (``check_source``, ``find_violations``...)
  and the refusal messages.
"""

from __future__ import annotations

from ..limits import MAX_SOURCE_BYTES
from .allowlists import (
    ALLOWED_BUILTINS,
    ALLOWED_DUNDER_ATTRS,
    ALLOWED_NODES,
    BUILTIN_NAMES,
    DEFINABLE_DUNDERS,
    DUNDER_NAME_LOADS,
    HARMLESS_PRIVATE,
    LIBRARY_PRIVATE,
    LITERAL_ATTR_CALLS,
    MODULE_METADATA,
    REFLECTIVE_ATTRS,
    SELF_MATCHING,
    TRUSTED_BUILTINS,
)
from .check import (
    DEFAULT_PACK_DIR,
    MAX_LISTED,
    allowed_modules_text,
    check_source,
    find_violations,
    module_names,
    too_large,
)
from .modules import (
    ALLOWED_MODULES,
    ENUM_CLASSES,
    PACK_MODULES,
    STDLIB_ALLOWED,
    STDLIB_NAMES,
)
from .scope import Violation, parse

__all__ = [
    "ALLOWED_BUILTINS",
    "ALLOWED_DUNDER_ATTRS",
    "ALLOWED_MODULES",
    "ALLOWED_NODES",
    "BUILTIN_NAMES",
    "DEFAULT_PACK_DIR",
    "DEFINABLE_DUNDERS",
    "DUNDER_NAME_LOADS",
    "ENUM_CLASSES",
    "HARMLESS_PRIVATE",
    "LIBRARY_PRIVATE",
    "LITERAL_ATTR_CALLS",
    "MAX_LISTED",
    "MAX_SOURCE_BYTES",
    "MODULE_METADATA",
    "PACK_MODULES",
    "REFLECTIVE_ATTRS",
    "SELF_MATCHING",
    "STDLIB_ALLOWED",
    "STDLIB_NAMES",
    "TRUSTED_BUILTINS",
    "Violation",
    "allowed_modules_text",
    "check_source",
    "find_violations",
    "module_names",
    "parse",
    "too_large",
]
