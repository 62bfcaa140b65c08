"""The build benchmark's floor: the corpus's words encoded once, in windows (bench's baseline)."""

from __future__ import annotations

from bot.tools.bench import WINDOW_WORDS, _word_windows


def test_the_floor_encodes_every_word_of_every_article_once_in_windows_of_at_most_150(tmp_path):
    (tmp_path / "a.txt").write_text("Headline one\n\n" + " ".join(f"w{i}" for i in range(320)) + "\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Short\n\nOnly a few words.\n", encoding="utf-8")
    windows = _word_windows(tmp_path)
    words = [word for window in windows for word in window.split()]
    expected = [word for name in ("a.txt", "b.md") for word in (tmp_path / name).read_text(encoding="utf-8").split()]
    assert words == expected  # each word once, in order, none dropped or repeated
    assert all(len(window.split()) <= WINDOW_WORDS for window in windows)
    assert len(windows) == 3 + 1  # 322 words: 150 + 150 + 22, and the short article alone
