"""The worked example of docs/eprop_training.md runs as written (one epoch instead of ten) and learns."""

import os
import re

DOC = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "eprop_training.md")


def test_docs_example_trains(tmp_path, capsys):
    text = open(DOC).read()
    code = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    assert "epochs=10" in code and 'trainer.save("digits.npz")' in code
    code = code.replace("epochs=10", "epochs=1").replace('"digits.npz"', repr(str(tmp_path / "digits.npz")))
    namespace = {}
    exec(compile(code, DOC, "exec"), namespace)
    sim, trainer, test = namespace["sim"], namespace["trainer"], namespace["test"]
    assert namespace["history"]["epoch"] == [1]
    assert trainer.evaluate(test)["accuracy"] > 0.4          # chance is 0.1; one epoch gives ~0.66
    assert (tmp_path / "digits.npz").stat().st_size > 0
    counts = namespace["p_in"].rewiring_counts()                 # DEEP R ran and kept the count
    assert counts["formed"] == counts["dormant"] == namespace["history"]["rewiring"][0]["input"]["formed"]
    sim.end()
