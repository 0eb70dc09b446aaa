"""Reading an instance type the way people write it: ``a100``, ``8xh100``, ``a100-80gb.sxm.2x``.

Parsing is pure and needs no catalog: it says what the text *asks for* (an
:class:`InstanceRequest`); :meth:`flowlib.catalog.Catalog.resolve` then says which instance type
that is. Every spelling variant comes from :mod:`flowlib.catalog._aliases`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flowlib.catalog._aliases import (
    GPU_ALIASES,
    INTERCONNECT_ALIASES,
    MAX_GPU_COUNT,
    MAX_GPU_MEMORY_GB,
    VENDOR_PREFIXES,
)
from flowlib.errors import ValidationError

__all__ = ["InstanceRequest", "parse_instance_type"]

MAX_LENGTH = 100
EXAMPLES = ("a100", "8xh100", "a100-80gb.sxm.1x", "h100-80gb.pcie.1x")

_A = re.ASCII | re.DOTALL
_FCP_FID = re.compile(r"it_[A-Za-z0-9]+", _A)
_FLAVOR = re.compile(r"[nN][0-9]+-[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*", _A)
_COLON_COUNT = re.compile(r"(.+?)\s*:\s*(-?\s*[0-9]+)", _A)
_PREFIX_COUNT = re.compile(r"(-?)\s*([0-9]+)\s*x\s*(.+)", _A)
_SUFFIX_COUNT = re.compile(r"(.+)\s*[x*]\s*(-?[0-9]+)", _A)  # the 'a100x8' mistake
_SEPARATORS = re.compile(r"[\s._-]+", _A)
_MEMORY = re.compile(r"([0-9]+)gb?", _A)
_COUNT = re.compile(r"([0-9]+)x", _A)
_NON_ALNUM = re.compile(r"[^a-z0-9]+", _A)
_DIGITS = re.compile(r"[0-9]+", _A)  # not str.isdigit(): that is true for '²', which int() refuses


@dataclass(frozen=True)
class InstanceRequest:
    """What an instance type string asks for; None where the text does not say.

    :ivar gpu: canonical GPU model (``"a100"``); None only for a provider id.
    :ivar count: GPUs per instance, when written (``8xh100``, ``h100:8``, ``a100-80gb.sxm.8x``).
    :ivar memory_gb: memory per GPU in GB, when written (``a100-40gb``).
    :ivar interconnect: canonical interconnect, when written (``sxm``, ``pcie``, ``nvl``).
    :ivar fid: a provider's own instance type id, exactly as written: an FCP FID
        (``it_MsIRhxj3ccyVWGfP``) or a Hyperstack flavor (``n3-A100x1``); all other fields None.
    :ivar text: the text as given.
    """

    gpu: str | None = None
    count: int | None = None
    memory_gb: int | None = None
    interconnect: str | None = None
    fid: str | None = None
    text: str = ""

    @property
    def spelling(self) -> str:
        """The shortest canonical way to write this request; it parses back to the same fields.

        ``8xh100``, ``a100``, ``a100-80gb``, ``a100-80gb.sxm.2x``, ``h100.sxm.8x``, or the id.
        """
        if self.fid is not None:
            return self.fid
        return _spell(self.gpu or "?", self.count, self.memory_gb, self.interconnect)


def parse_instance_type(text: str) -> InstanceRequest:
    """Parse an instance type string into what it asks for.

    Accepted, case-insensitively and ignoring surrounding whitespace:

    - a GPU model, alone or with a vendor prefix: ``a100``, ``A100``, ``nvidia-a100``,
      ``NVIDIA A100``, ``rtx-a6000``, ``RTX A6000``, ``4090`` (every spelling is a key of
      :data:`~flowlib.catalog.GPU_ALIASES`);
    - a GPU count before it: ``8xh100``, ``8x h100``, ``8 x h100``; or after a colon: ``h100:8``;
    - memory, interconnect and count after it, separated by ``-``, ``.``, ``_`` or spaces, in
      provider order: ``a100-80gb.sxm.2x``, ``h100-80gb.pcie.1x``, ``H100-80GB``, ``a100-40gb``,
      ``h200.8x``, ``NVIDIA A100-SXM4-80GB``;
    - a provider's own id, kept verbatim: ``it_MsIRhxj3ccyVWGfP`` (FCP),
      ``n3-A100x1`` (Hyperstack).

    Parsing does not check that such an instance type exists (``3xh100`` parses; resolving it
    fails): see :meth:`flowlib.catalog.Catalog.resolve`.

    :raises ValidationError: for empty text, an unknown GPU (``z900``), the count after the
        model (``a100x8``, ``a100*8``), dotted paths (``gpu.nvidia.a100``), a count outside
        1..64, a memory size outside 1..1024 GB, anything given twice or any other word. The
        error's ``suggestions`` are valid spellings, closest first (``8xa100``).
    """
    if not isinstance(text, str):
        raise ValidationError(
            f"an instance type is a string such as 'a100', got {type(text).__name__}",
            suggestions=EXAMPLES,
        )
    raw = text.strip()
    if not raw:
        raise ValidationError(
            "the instance type is empty; name a GPU such as 'a100' or '8xh100'",
            suggestions=EXAMPLES,
        )
    if len(raw) > MAX_LENGTH:
        raise ValidationError(
            f"{_quote(raw)} is too long to be an instance type ({len(raw)} characters)",
            suggestions=EXAMPLES,
        )
    if _FCP_FID.fullmatch(raw) or _FLAVOR.fullmatch(raw):
        return InstanceRequest(fid=raw, text=text)
    if raw.lower().startswith("it_"):
        raise ValidationError(
            f"{_quote(raw)} looks like an FCP instance type id, but those are 'it_' followed "
            "by letters and digits only",
            suggestions=EXAMPLES,
        )
    return _parse_name(raw, text)


def _parse_name(raw: str, text: str) -> InstanceRequest:
    body = raw.lower()
    counts: list[int] = []

    colon = _COLON_COUNT.fullmatch(body)
    if colon:
        body = colon.group(1)
        counts.append(_count(colon.group(2), raw, body))
    _reject_count_after_model(body, raw)
    prefix = _PREFIX_COUNT.fullmatch(body)
    if prefix:
        body = prefix.group(3)
        counts.append(_count(prefix.group(1) + prefix.group(2), raw, body))
        _reject_count_after_model(body, raw)

    gpu, memory, link, count = _parse_words(body, raw)
    if count is not None:
        counts.append(count)
    if len(counts) > 1:
        fix = _spell(gpu, counts[-1], memory, link)
        raise ValidationError(
            f"{_quote(raw)} gives the GPU count more than once: did you mean '{fix}'?",
            suggestions=[fix],
        )
    return InstanceRequest(
        gpu=gpu,
        count=counts[0] if counts else None,
        memory_gb=memory,
        interconnect=link,
        text=text,
    )


def _reject_count_after_model(body: str, raw: str) -> None:
    """The ``a100x8`` / ``a100*8`` mistake: a GPU spelling, then ``x`` or ``*`` and a number."""
    suffix = _SUFFIX_COUNT.fullmatch(body)
    if suffix is None:
        return
    shape = _shape(suffix.group(1).strip(), with_count=False)
    if shape is None:
        return
    gpu, memory, link = shape
    fix = _spell(gpu, _clamp(int(suffix.group(2))), memory, link)
    raise ValidationError(
        f"{_quote(raw)} puts the GPU count after the model; the count comes first: "
        f"did you mean '{fix}'?",
        suggestions=[fix],
    )


@dataclass
class _Words:
    """What the words of a name (after any count prefix) say, problems included."""

    model: list[str]
    memory: int | None = None
    link: str | None = None
    count: int | None = None
    stray: str | None = None
    twice: str | None = None

    @property
    def gpu(self) -> str | None:
        return GPU_ALIASES.get("-".join(self.model)) if self.model else None


def _scan(body: str) -> _Words:
    """Split ``body`` into words and sort them; never raises (errors are built from this)."""
    words = [w for w in _SEPARATORS.split(body) if w]
    while len(words) > 1 and words[0] in VENDOR_PREFIXES:
        words.pop(0)
    found = _Words(model=[])
    while words and _qualifier(words[0]) is None:
        found.model.append(words.pop(0))
    for word in words:
        kind = _qualifier(word)
        if kind is None:
            found.stray = found.stray or word
        elif kind == "memory":
            found.twice = found.twice or ("memory size" if found.memory is not None else None)
            found.memory = int(word.rstrip("gb"))
        elif kind == "count":
            found.twice = found.twice or ("GPU count" if found.count is not None else None)
            found.count = int(word[:-1])
        else:
            found.twice = found.twice or ("interconnect" if found.link is not None else None)
            found.link = INTERCONNECT_ALIASES[word]
    return found


def _parse_words(body: str, raw: str) -> tuple[str, int | None, str | None, int | None]:
    """``(gpu, memory_gb, interconnect, count)`` of a name with no count prefix."""
    found = _scan(body)
    if found.twice:
        raise ValidationError(
            f"{_quote(raw)} gives the {found.twice} more than once", suggestions=EXAMPLES
        )
    memory, link = found.memory, found.link
    count = None if found.count is None else _count(str(found.count), raw, "-".join(found.model))

    if not found.model:
        fix = _guess(raw, count, memory, link)
        raise ValidationError(
            f"{_quote(raw)} names no GPU model" + _did_you_mean(fix),
            suggestions=fix or EXAMPLES,
        )
    gpu = found.gpu
    if gpu is None:
        spelled = "-".join(found.model)
        fix = _guess(raw, count, memory, link, spelled)
        rest = GPU_ALIASES.get("-".join(found.model[1:]))
        if _DIGITS.fullmatch(found.model[0]) and rest is not None:  # '8 h100'
            fix = [_spell(rest, _clamp(int(found.model[0])), memory, link)]
        known = sorted(set(GPU_ALIASES.values()))
        # One message with the best guess; the other close ones and where to look as hints.
        hint = _did_you_mean(fix[:1]) if fix else f"; known GPU models: {', '.join(known)}"
        where = (
            _quote(raw) if spelled == raw.strip().lower() else f"{_quote(spelled)} in {_quote(raw)}"
        )
        tips = [f"also close: {', '.join(fix[1:])}"] if fix[1:] else []
        tips.append("`flow catalog` lists every instance type you can ask for")
        raise ValidationError(f"{where} is not a GPU model flowlib knows" + hint, suggestions=tips)
        look = "`flow catalog` lists every instance type you can ask for"
        raise ValidationError(
            f"{where} is not a GPU model flowlib knows" + hint,
            suggestions=[*fix[:1], look] if fix else [*known, look],
        )
    if memory is not None and not 1 <= memory <= MAX_GPU_MEMORY_GB:
        fix = [_spell(gpu, count, None, link)]
        raise ValidationError(
            f"{_quote(raw)}: {memory} GB is not a GPU memory size (1 to {MAX_GPU_MEMORY_GB} GB "
            "per GPU)" + _did_you_mean(fix),
            suggestions=fix,
        )
    if found.stray is not None:
        fix = [_spell(gpu, count, memory, link)]
        raise ValidationError(
            f"{_quote(raw)}: {_quote(found.stray)} is not a memory size (80gb), an interconnect "
            "(sxm, pcie, nvl) or a GPU count (8x)" + _did_you_mean(fix),
            suggestions=fix,
        )
    return gpu, memory, link, count


def _shape(text: str, *, with_count: bool) -> tuple[str, int | None, str | None] | None:
    """``(gpu, memory, interconnect)`` when ``text`` is a clean GPU spelling (with no count,
    unless ``with_count``); None otherwise. Builds suggestions; never recurses into parsing."""
    if with_count and (prefix := _PREFIX_COUNT.fullmatch(text)):
        text = prefix.group(3)
    found = _scan(text)
    gpu = found.gpu
    if gpu is None or found.stray or found.twice or (found.count is not None and not with_count):
        return None
    if found.memory is not None and not 1 <= found.memory <= MAX_GPU_MEMORY_GB:
        return None
    return gpu, found.memory, found.link


def _qualifier(word: str) -> str | None:
    if _MEMORY.fullmatch(word):
        return "memory"
    if _COUNT.fullmatch(word):
        return "count"
    if word in INTERCONNECT_ALIASES:
        return "interconnect"
    return None


def _count(digits: str, raw: str, body: str) -> int:
    value = int(digits.replace(" ", ""))
    if 1 <= value <= MAX_GPU_COUNT:
        return value
    shape = _shape(body.strip(), with_count=True)
    gpu, memory, link = shape if shape else ("a100", None, None)
    fix = _spell(gpu, _clamp(value), memory, link)
    more = " (for more GPUs, ask for several instances with num_instances)" if value > 0 else ""
    raise ValidationError(
        f"{_quote(raw)} asks for {value} GPUs; an instance has 1 to {MAX_GPU_COUNT}{more}: "
        f"did you mean '{fix}'?",
        suggestions=[fix],
    )


def _clamp(count: int) -> int:
    """The count to suggest instead of an impossible one."""
    if count < 1:
        return 1
    return min(count, 8) if count > MAX_GPU_COUNT else count


def _guess(
    raw: str,
    count: int | None,
    memory: int | None,
    link: str | None,
    spelled: str | None = None,
) -> list[str]:
    """Valid spellings close to ``raw``: a near-miss model, or a known model found inside it."""
    import difflib  # only on the error path

    models: list[str] = []
    if spelled:
        close = difflib.get_close_matches(spelled, list(GPU_ALIASES), n=3, cutoff=0.6)
        models = list(dict.fromkeys(GPU_ALIASES[c] for c in close))
    if not models:
        letters = _NON_ALNUM.sub("", raw.lower())
        for alias in sorted(GPU_ALIASES, key=lambda a: (-len(a), a)):
            if alias.replace("-", "") in letters:
                models = [GPU_ALIASES[alias]]
                break
    return [_spell(m, count, memory, link) for m in models]


def _did_you_mean(fixes: list[str]) -> str:
    if not fixes:
        return ""
    return "; did you mean " + " or ".join(f"'{f}'" for f in fixes) + "?"


def _spell(gpu: str, count: int | None, memory: int | None, link: str | None) -> str:
    if memory is None and link is None:
        return f"{count}x{gpu}" if count is not None else gpu
    text = gpu
    if memory is not None:
        text += f"-{memory}gb"
    if link is not None:
        text += f".{link}"
    if count is not None:
        text += f".{count}x"
    return text


def _quote(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...")
