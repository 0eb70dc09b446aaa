"""submitit code on flowlib: only the import line changes. Runs on the local provider.

python examples/functions_submitit.py
"""

import tempfile

from flowlib import submitit


def add(a, b):
    return a + b


folder = tempfile.mkdtemp(prefix="flow-submitit-")
executor = submitit.AutoExecutor(folder=folder)
executor.update_parameters(timeout_min=5, name="add")

job = executor.submit(add, 5, 7)
print(f"job {job.job_id}: {job.result()}")
assert job.result() == 12 and job.state == "COMPLETED"

jobs = executor.map_array(add, [1, 2, 3], [10, 20, 30])
assert [j.result() for j in jobs] == [11, 22, 33]

with executor.batch():
    squares = [executor.submit(pow, n, 2) for n in range(4)]
assert [j.result() for j in squares] == [0, 1, 4, 9]

# A later process rebuilds the job from its id and reads the same result.
assert submitit.Job(folder, job.job_id).result() == 12
print("all results checked")
