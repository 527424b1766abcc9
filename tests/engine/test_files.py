"""Safe writes: atomic name claims across real processes, stale temp files, symlinks, modes."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from node_api.files import atomic_write, clean_stale_temps, umask, write_new

ROOT = Path(__file__).resolve().parents[2]


def _start_writers(script: str, folder: Path, count: int, per: int) -> None:
    """Run ``count`` processes of ``script`` (argv: folder, worker, per), all released at
    its ``# go`` line together (after their imports), so their saves really overlap."""
    go = folder.parent / f"{folder.name}.go"
    setup, loop = textwrap.dedent(script).split("# go\n")
    code = setup + textwrap.dedent(f"""
        import time
        go = Path({str(go)!r})
        while not go.exists():
            time.sleep(0.001)
    """) + loop
    procs = [subprocess.Popen([sys.executable, "-c", code, str(folder), str(i), str(per)],
                              cwd=ROOT, stderr=subprocess.PIPE, text=True)
             for i in range(count)]
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err


def test_concurrent_write_new_keeps_every_file(tmp_path):
    folder = tmp_path / "out"
    _start_writers("""
        import itertools, sys
        from pathlib import Path
        from node_api.files import write_new
        folder, worker, per = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
        # go
        for i in range(per):
            names = (f"img_{n:05d}.png" for n in itertools.count(1))
            write_new(folder, names, f"{worker}-{i}".encode() * 1000)
    """, folder, count=3, per=40)
    files = sorted(folder.iterdir())
    assert len(files) == 120
    contents = {f.read_bytes() for f in files}
    assert contents == {f"{w}-{i}".encode() * 1000 for w in range(3) for i in range(40)}
    assert [f.name for f in files] == [f"img_{n:05d}.png" for n in range(1, 121)]


def test_concurrent_save_image_loses_nothing(tmp_path):
    """Save Image from two processes into one folder: 2 x 30 PNGs, all kept and readable."""
    folder = tmp_path / "out"
    _start_writers("""
        import sys
        from pathlib import Path
        import torch
        from nodes._images import save
        import pipelines.image, PIL.PngImagePlugin
        folder, worker, per = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
        # go
        for i in range(per):
            image = torch.full((1, 8, 8, 3), (worker * per + i) / 255.0)
            save(image, folder, "studio", {"format": "x", "nodes": [], "links": []})
    """, folder, count=2, per=30)
    from PIL import Image

    pngs = sorted(folder.glob("*.png"))
    assert len(pngs) == 60
    values = set()
    for png in pngs:
        with Image.open(png) as picture:
            values.add(picture.convert("RGB").getpixel((0, 0))[0])
    assert values == set(range(60))
    assert not list(folder.glob(".*"))  # no temp file left behind


def test_write_new_never_overwrites(tmp_path):
    (tmp_path / "a_00001.png").write_bytes(b"mine")
    path = write_new(tmp_path, ["a_00001.png", "a_00002.png"], b"new")
    assert path.name == "a_00002.png"
    assert (tmp_path / "a_00001.png").read_bytes() == b"mine"
    with pytest.raises(FileExistsError):
        write_new(tmp_path, ["a_00001.png"], b"newer")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_00001.png", "a_00002.png"]


def test_new_files_respect_the_umask(tmp_path):
    atomic_write(tmp_path / "w.json", b"{}")
    write_new(tmp_path, ["i.png"], b"png")
    expected = 0o666 & ~umask()
    assert stat.S_IMODE((tmp_path / "w.json").stat().st_mode) == expected
    assert stat.S_IMODE((tmp_path / "i.png").stat().st_mode) == expected


def test_replacing_keeps_the_mode(tmp_path):
    path = tmp_path / "w.json"
    path.write_bytes(b"old")
    path.chmod(0o640)
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new" and stat.S_IMODE(path.stat().st_mode) == 0o640


def test_atomic_write_writes_through_a_symlink(tmp_path):
    target = tmp_path / "real" / "w.json"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    atomic_write(link, b"new")
    assert link.is_symlink() and target.read_bytes() == b"new"
    assert not list(tmp_path.glob(".*")) and not list(target.parent.glob(".*"))


def _killed_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temp_files_of_dead_writers_are_cleaned(tmp_path):
    dead = _killed_pid()
    stale = tmp_path / f".w.json.{dead}-abcd_123.tmp"
    live = tmp_path / f".w.json.{os.getpid()}-abcd_123.tmp"
    other = tmp_path / ".notes.tmp"  # not our naming pattern
    old_style = tmp_path / ".w.json.abcdefgh.tmp"  # ours, from an older version
    recent_old_style = tmp_path / ".w.json.zyxwvuts.tmp"
    for path in (stale, live, other, old_style, recent_old_style):
        path.write_bytes(b"half")
    day_ago = time.time() - 2 * 24 * 3600
    os.utime(old_style, (day_ago, day_ago))
    atomic_write(tmp_path / "w.json", b"{}")
    assert not stale.exists() and not old_style.exists()
    assert live.exists() and other.exists() and recent_old_style.exists()


def test_killed_save_leaves_nothing_after_next_save(tmp_path):
    """A writer killed while its temp file exists: the next save into the folder tidies it."""
    folder = tmp_path / "out"
    folder.mkdir()
    code = textwrap.dedent("""
        import sys, time
        from pathlib import Path
        import node_api.files as sw
        fd, tmp = sw._temp_beside(Path(sys.argv[1]) / "studio_00001.png")
        print(tmp, flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    tmp = Path(proc.stdout.readline().strip())
    assert tmp.exists()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert clean_stale_temps(folder) == [tmp]
    assert not list(folder.iterdir())


def test_workflow_with_a_lone_surrogate_saves_and_says_so_on_reopening(tmp_path):
    """Text with a lone surrogate (only a damaged import holds one) never crashes a save;
    the saved file is refused on reopening with one line naming the field, as any workflow
    file with such text is (app.engine.workflow reads through the checked JSON parser)."""
    from app.engine.registry import default_registry
    from app.engine.workflow import WorkflowError, save_workflow
    from app.interop import recipes
    from app.interop.open import open_workflow

    registry = default_registry()
    graph = recipes.txt2img(registry, checkpoint="x", prompt="bad \udc80 text")
    path = save_workflow(graph, tmp_path / "w.json")
    assert "\\udc80" in path.read_text(encoding="ascii")
    with pytest.raises(WorkflowError, match=r"w\.json.*values\.text.*surrogate"):
        open_workflow(path, registry)
