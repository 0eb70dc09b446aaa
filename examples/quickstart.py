"""Run a task on this machine with the local provider: submit, stream its logs, wait, inspect.

python examples/quickstart.py
"""

from pathlib import Path

import flowlib

here = Path(__file__).parent

# Submit: the examples directory is packaged and shipped, exactly as it would be to a cloud VM.
task = flowlib.run("python train.py 3", name="quickstart", code_dir=here)
print(f"submitted {task.task_id} ({task.name}) on {task.provider}: {task.status}")

# Stream the logs as they are written; the loop ends when the task does.
for line in task.logs(follow=True):
    print(f"  | {line}")

task.wait()
print(f"{task.name} {task.status} with exit code {task.exit_code}")
assert task.status == flowlib.TaskStatus.COMPLETED

# Any later process can find it again, by id, id prefix or name.
again = flowlib.get_task("quickstart")
print(f"found again: {again.task_id} is {again.status}")
print("next: `flow status`, `flow logs quickstart`")
