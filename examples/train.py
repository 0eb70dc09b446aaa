"""A stand-in training script: prints metrics the way a real one would, and saves a checkpoint."""

import json
import math
import os
import sys
import time

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
print(f"training on {os.environ.get('FLOW_TASK_NAME', 'this machine')} for {epochs} epochs")
for epoch in range(1, epochs + 1):
    loss = 2.0 * math.exp(-0.7 * epoch)
    print(json.dumps({"epoch": epoch, "loss": round(loss, 4)}), flush=True)
    time.sleep(0.05)
os.makedirs("checkpoints", exist_ok=True)
with open("checkpoints/last.json", "w") as fh:
    json.dump({"epoch": epochs}, fh)
print("done")
