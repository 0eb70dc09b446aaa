"""Training-framework integrations (docs/integrations.md), each in its own module so that
importing one loads only its framework:

- :mod:`flowlib.integrations.lightning`: ``FlowLogger`` and ``StopOnNotice`` for PyTorch
  Lightning;
- :mod:`flowlib.integrations.huggingface`: ``FlowCallback`` for the Hugging Face ``Trainer``.

Install the frameworks with the ``train`` extra: ``pip install 'flowlib[train]'``.
"""
