"""A Modal-style app on flowlib: decorate functions, call them as tasks. Runs on the local
provider (no account needed); on a cloud, set the provider and a GPU.

python examples/app_modal_style.py          # the `if __name__` block below
flow run examples/app_modal_style.py        # the local entrypoint
flow run examples/app_modal_style.py::embed --text "hello world"
"""

import flowlib

app = flowlib.App("modal-style")


@app.function(timeout=60, retries=flowlib.Retries(max_retries=2, initial_delay=0.5))
def embed(text: str) -> list[float]:
    """A stand-in for a model: the text's letter frequencies."""
    letters = [c for c in text.lower() if c.isalpha()]
    return [round(letters.count(c) / max(len(letters), 1), 3) for c in "etaoin"]


@app.function(batch_size=50)
def checked_sqrt(x: float) -> float:
    if x < 0:
        raise ValueError(f"no real square root of {x}")
    return x**0.5


@app.local_entrypoint()
def main() -> None:
    print("one call:", embed.remote("the quick brown fox"))

    call = embed.spawn("jumps over the lazy dog")  # returns at once
    same = flowlib.FunctionCall.from_id(call.object_id)  # e.g. in a later process
    print("spawned:", same.get(timeout=60))

    values = list(checked_sqrt.map([4, 9, -1, 16], return_exceptions=True))
    print("map:", values)
    assert values[:2] == [2.0, 3.0] and isinstance(values[2], ValueError)

    print("starmap:", list(checked_sqrt.starmap([(25,), (36,)])))
    print("here:", checked_sqrt.local(81))


if __name__ == "__main__":
    main()
