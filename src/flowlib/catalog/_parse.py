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
    prefix = _PREFIX_COUNT.fullmatch(body)
    if prefix:
        body = prefix.group(3)
        counts.append(_count(prefix.group(1) + prefix.group(2), raw, body))

    suffix = _SUFFIX_COUNT.fullmatch(body)
    if suffix and (shape := _shape(suffix.group(1).strip(), with_count=False)) is not None:
        gpu, memory, link = shape
        n = _clamp(int(suffix.group(2)))
        fix = _spell(gpu, n, memory, link)
        raise ValidationError(
            f"{_quote(raw)} puts the GPU count after the model; the count comes first: "
            f"did you mean '{fix}'?",
            suggestions=[fix],
        )

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


def _parse_words(body: str, raw: str) -> tuple[str, int | None, str | None, int | None]:
    """``(gpu, memory_gb, interconnect, count)`` of a name with no count prefix."""
    words = [w for w in _SEPARATORS.split(body) if w]
    while len(words) > 1 and words[0] in VENDOR_PREFIXES:
        words.pop(0)

    model_words: list[str] = []
    while words and _qualifier(words[0]) is None:
        model_words.append(words.pop(0))

    memory: int | None = None
    link: str | None = None
    count: int | None = None
    stray: str | None = None
    for word in words:
        kind = _qualifier(word)
        if kind is None:
            stray = stray or word
        elif kind == "memory":
            if memory is not None:
                raise _twice(raw, "memory size")
            memory = _memory(word, raw)
        elif kind == "count":
            if count is not None:
                raise _twice(raw, "GPU count")
            count = _count(word[:-1], raw, " ".join(model_words))
        else:
            if link is not None:
                raise _twice(raw, "interconnect")
            link = INTERCONNECT_ALIASES[word]

    if not model_words:
        fix = _guess(raw, count, memory, link)
        raise ValidationError(
            f"{_quote(raw)} names no GPU model" + _did_you_mean(fix),
            suggestions=fix or EXAMPLES,
        )
    spelled = "-".join(model_words)
    gpu = GPU_ALIASES.get(spelled)
    if gpu is None:
        fix = _guess(raw, count, memory, link, spelled)
        known = sorted(set(GPU_ALIASES.values()))
        hint = _did_you_mean(fix) if fix else f"; known GPU models: {', '.join(known)}"
        raise ValidationError(
            f"{_quote(raw)}: {_quote(spelled)} is not a GPU model flowlib knows" + hint,
            suggestions=fix or known,
        )
    if stray is not None:
        fix = [_spell(gpu, count, memory, link)]
        raise ValidationError(
            f"{_quote(raw)}: {_quote(stray)} is not a memory size (80gb), an interconnect "
            "(sxm, pcie, nvl) or a GPU count (8x)" + _did_you_mean(fix),
            suggestions=fix,
        )
    return gpu, memory, link, count


def _shape(text: str, *, with_count: bool) -> tuple[str, int | None, str | None] | None:
    """``(gpu, memory, interconnect)`` of ``text`` when it parses (and has no count, unless
    ``with_count``); None otherwise. Only used to build suggestions."""
    if not text:
        return None
    try:
        request = _parse_name(text, text)
    except ValidationError:
        return None
    if request.gpu is None or (request.count is not None and not with_count):
        return None
    return request.gpu, request.memory_gb, request.interconnect


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


def _memory(word: str, raw: str) -> int:
    match = _MEMORY.fullmatch(word)
    assert match is not None
    value = int(match.group(1))
    if not 1 <= value <= MAX_GPU_MEMORY_GB:
        raise ValidationError(
            f"{_quote(raw)}: {value} GB is not a GPU memory size (1 to {MAX_GPU_MEMORY_GB} GB "
            "per GPU)",
            suggestions=EXAMPLES,
        )
    return value


def _clamp(count: int) -> int:
    """The count to suggest instead of an impossible one."""
    if count < 1:
        return 1
    return min(count, 8) if count > MAX_GPU_COUNT else count


def _twice(raw: str, what: str) -> ValidationError:
    return ValidationError(f"{_quote(raw)} gives the {what} more than once", suggestions=EXAMPLES)


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
