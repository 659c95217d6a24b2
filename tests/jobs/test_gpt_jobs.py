"""The GPT in the jobs: `python -m compare train --model gpt` (the character-level GPT on the shipped text, both
backends epoch by epoch; the options that cannot apply to it refused in one line, exit status 2) and the bench's
`gpt` size."""
import pytest

from compare.__main__ import main
from compare.bench import sizes, timing
from compare.realdata.text import text_split, vocabulary

TINY = ["--block-size", "8", "--batch-size", "64", "--model-arg", "n_embd=8", "--model-arg", "n_head=2",
        "--model-arg", "n_layer=1"]


def test_train_gpt_agrees(capsys):
    assert main(["train", "--model", "gpt", "--epochs", "1", *TINY]) == 0
    out = capsys.readouterr().out
    assert "GPT(vocab_size=" in out and "AdamW" in out and "test metrics agree" in out


def test_text_windows_are_next_characters_and_split_apart():
    split = text_split(8, 2, 0.2)
    assert split.X_train.shape[1:] == (8,) and (split.X_train[:, 1:] == split.y_train[:, :-1]).all()
    assert split.X_train.max() < len(vocabulary()) and split.X_test.shape[0] > 0


@pytest.mark.parametrize("argv, message", [
    (["--hidden", "8"], "--hidden cannot apply"),
    (["--dataset", "digits"], "--dataset cannot apply"),
    (["--model-arg", "n_head=3"], "the recipe cannot be built"),
    (["--block-size", "2000"], "fewer than a window"),
], ids=["hidden", "dataset", "heads", "block-size"])
def test_meaningless_options_are_refused(argv, message, capsys):
    assert main(["train", "--model", "gpt", *argv]) == 2
    assert message in capsys.readouterr().err


def test_block_size_without_gpt_and_cv_with_gpt_are_refused(capsys):
    assert main(["train", "--block-size", "8"]) == 2
    assert main(["cv", "--model", "gpt"]) == 2
    assert "use `python -m compare train --model gpt`" in capsys.readouterr().err


def test_gpt_bench_size_agrees_and_counts_its_flops():
    size = sizes.SIZES["gpt"]
    timing.check_agreement(size, "float64")  # what the bench asserts before timing
    e, t, vocab = 32, 32, len(size.case.data.vocab)
    assert size.flops == 3 * 16 * t * (2 * (24 * e * e + 4 * t * e) + 2 * e * vocab) and not size.sklearn
