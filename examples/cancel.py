"""Start a long task, see it running, then cancel it: every process it started is stopped."""

import time

import flowlib

task = flowlib.run("sleep 600", name="long-sleep", upload_code=False)
while task.status == flowlib.TaskStatus.PENDING:
    time.sleep(0.05)
    task.refresh()
print(f"{task.task_id} is {task.status}")
task.cancel()
print(f"{task.task_id} is {task.status}")
assert task.status == flowlib.TaskStatus.CANCELLED
