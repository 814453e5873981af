"""The one boundary to git, through GitPython.

Every call names its git dir (and work tree, where one is used) explicitly and runs with the
caller's GIT_* variables removed: `git apply` run inside someone else's repository (the
consumer's checkout, a git hook's environment) silently skips paths or acts on the wrong index.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

# Without git on PATH, importing GitPython would fail at once; we want our own clear error
# at the first git call instead.
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

import git as gitpython
from git.exc import GitCommandError, GitCommandNotFound, InvalidGitRepositoryError, NoSuchPathError

from patcher import cache, trees
from patcher.errors import PatchError, SourceError, ToolError

# Variables that steer how git reaches a remote: the user's, and kept on purpose.
_KEEP_GIT_VARS = frozenset(
    {
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_ASKPASS",
        "GIT_SSL_CAINFO",
        "GIT_SSL_NO_VERIFY",
        "GIT_HTTP_PROXY_AUTHMETHOD",
        "GIT_PROXY_COMMAND",
        "GIT_TRACE",
        "GIT_CURL_VERBOSE",
    }
)


@contextlib.contextmanager
def clean_env() -> Iterator[None]:
    """Drop inherited GIT_* variables (GIT_DIR, GIT_INDEX_FILE, ...) for the duration."""
    saved = {
        k: v for k, v in os.environ.items() if k.startswith("GIT_") and k not in _KEEP_GIT_VARS
    }
    for key in saved:
        del os.environ[key]
    previous_prompt = os.environ.get("GIT_TERMINAL_PROMPT")
    os.environ["GIT_TERMINAL_PROMPT"] = "0"  # an unreachable remote must fail, not ask
    try:
        yield
    finally:
        os.environ.update(saved)
        if previous_prompt is None:
            os.environ.pop("GIT_TERMINAL_PROMPT", None)
        else:
            os.environ["GIT_TERMINAL_PROMPT"] = previous_prompt


def _tool_error(what: str, exc: GitCommandError, hint: str | None = None) -> ToolError:
    cmd = exc.command if isinstance(exc.command, (list, tuple)) else [str(exc.command)]
    return ToolError(
        what,
        hint=hint,
        cmd=tuple(str(c) for c in cmd),
        returncode=exc.status if isinstance(exc.status, int) else None,
        stdout=str(exc.stdout or ""),
        stderr=str(exc.stderr or ""),
    )


def _git_missing(exc: Exception) -> ToolError:
    return ToolError(
        f"git could not be run: {exc}",
        hint="install git (e.g. `apt-get install git`) and make sure it is on PATH",
    )


class _Progress(gitpython.RemoteProgress):
    """Print fetch progress to stderr, but only once a fetch takes more than a moment."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self._label = label
        self._start = time.monotonic()
        self._last = 0.0

    def update(
        self,
        op_code: int,
        cur_count: str | float,
        max_count: str | float | None = None,
        message: str = "",
    ) -> None:
        now = time.monotonic()
        if now - self._start < 1.0 or now - self._last < 0.5:
            return
        self._last = now
        total = f"/{max_count}" if max_count else ""
        print(f"  {self._label}: {cur_count}{total} {message}".rstrip(), file=sys.stderr)


def has_commit(repo_dir: Path, commit: str) -> bool:
    if not (repo_dir / "HEAD").is_file():
        return False
    with clean_env():
        try:
            repo = gitpython.Repo(repo_dir)
            return bool(repo.git.cat_file("-t", commit) == "commit")
        except (GitCommandError, InvalidGitRepositoryError, NoSuchPathError, ValueError):
            return False


def work_tree_of(path: Path) -> Path | None:
    """The top of the git work tree that holds `path`; None outside one (or without git)."""
    with clean_env():
        try:
            out = gitpython.Git(str(path)).execute(["git", "rev-parse", "--show-toplevel"])
        except (GitCommandError, GitCommandNotFound, OSError):
            return None
    return Path(str(out).strip()) if str(out).strip() else None


def _with_paths(work_tree: Path, args: list[str], paths: list[str]) -> str:
    """Run `git ARGS --stdin -z` in `work_tree` with `paths` on its standard input; its
    output (exit 1, "nothing matched", is not an error)."""
    with clean_env(), tempfile.TemporaryFile() as stdin:
        stdin.write("".join(p + "\0" for p in paths).encode("utf-8"))
        stdin.seek(0)
        try:
            status, out, err = gitpython.Git(str(work_tree)).execute(
                ["git", *args, "--stdin", "-z"],
                istream=stdin,
                with_extended_output=True,
                with_exceptions=False,
                strip_newline_in_stdout=False,
            )
        except GitCommandNotFound as exc:
            raise _git_missing(exc) from exc
    if status not in (0, 1):
        raise ToolError(
            f"git {args[0]} failed in {work_tree}",
            cmd=("git", *args, "--stdin", "-z"),
            returncode=int(status),
            stderr=str(err),
        )
    return str(out)


def check_ignored(work_tree: Path, paths: list[str]) -> list[str]:
    """Those of `paths` that the ignore rules of `work_tree` exclude (tracked or not)."""
    if not paths:
        return []
    out = _with_paths(work_tree, ["check-ignore", "--no-index"], paths)
    return [p for p in out.split("\0") if p]


def check_attributes(
    work_tree: Path, paths: list[str], names: tuple[str, ...]
) -> dict[str, dict[str, str]]:
    """The git attributes `names` of each of `paths` in `work_tree` ("unspecified", "unset",
    "set" or a value)."""
    if not paths:
        return {}
    out = _with_paths(work_tree, ["check-attr", *names], paths).split("\0")
    found: dict[str, dict[str, str]] = {}
    for path, name, value in zip(out[0::3], out[1::3], out[2::3]):
        found.setdefault(path, {})[name] = value
    return found


def fetch_pinned(
    repo_dir: Path, url: str, *, tag: str, commit: str, expected_tag_commit: str
) -> None:
    """Fetch `tag` and `commit` shallowly from `url` into the bare repo `repo_dir`.

    Raises SourceError when the remote cannot be reached or the tag names another commit.
    """
    with clean_env():
        try:
            repo = _open_bare(repo_dir)
            progress = _Progress(f"fetching {tag} from {url}")
            try:
                _remote(repo, url).fetch(
                    f"+refs/tags/{tag}:refs/tags/{tag}", progress=progress, depth=1, no_tags=True
                )
            except GitCommandError as exc:
                raise SourceError(
                    f"cannot fetch tag {tag} from {url}",
                    hint="check the URL and the network, set a mirror with "
                    "PYO3_PATCHER_<UPSTREAM>_URL, or let patcher fall back to the published "
                    "crates (it does unless --source git)"
                    + (f"\ngit said: {exc.stderr.strip()}" if exc.stderr else ""),
                ) from exc
            tag_commit = repo.git.rev_parse(f"refs/tags/{tag}^{{commit}}")
            if tag_commit != expected_tag_commit:
                raise SourceError(
                    f"tag {tag} at {url} points at {tag_commit}, but the pin says "
                    f"{expected_tag_commit}: the tag was moved",
                    hint="do not build from a moved tag; report it, and if the move is "
                    "legitimate re-pin with `patcher refresh --upstream`",
                )
            if tag_commit == commit or _has(repo, commit):
                return
            try:
                repo.git.fetch(url, commit, "--depth=1", "--no-tags")
            except GitCommandError:
                # Servers that refuse to serve a bare SHA: walk back from the tag instead.
                repo.git.fetch(url, f"+refs/tags/{tag}:refs/tags/{tag}", "--depth=50", "--no-tags")
            if not _has(repo, commit):
                raise SourceError(f"commit {commit} could not be fetched from {url}")
        except GitCommandNotFound as exc:
            raise _git_missing(exc) from exc
        except GitCommandError as exc:
            raise _tool_error(f"git failed while fetching {tag} from {url}", exc) from exc


def _open_bare(repo_dir: Path) -> gitpython.Repo:
    """Our bare mirror in the cache; a damaged one is thrown away and started afresh."""
    if (repo_dir / "HEAD").is_file():
        try:
            repo = gitpython.Repo(repo_dir)
            repo.git.rev_parse("--git-dir")
            return repo
        except (GitCommandError, InvalidGitRepositoryError, NoSuchPathError, ValueError):
            print(
                f"warning: git mirror {repo_dir.name} is damaged; fetching afresh", file=sys.stderr
            )
    if os.path.lexists(repo_dir):
        cache.remove(repo_dir)
    return gitpython.Repo.init(repo_dir, bare=True)


def _remote(repo: gitpython.Repo, url: str) -> gitpython.Remote:
    """The remote `upstream`, pointing at `url` (a mirror may change between runs)."""
    if "upstream" in [r.name for r in repo.remotes]:
        remote = repo.remote("upstream")
        if remote.url != url:
            remote.set_url(url)
        return remote
    return repo.create_remote("upstream", url)


def _has(repo: gitpython.Repo, commit: str) -> bool:
    try:
        return bool(repo.git.cat_file("-t", commit) == "commit")
    except GitCommandError:
        return False


def export_tree(repo_dir: Path, commit: str, dest: Path) -> None:
    """Write the files of `commit` into the empty directory `dest` (no .git)."""
    with clean_env(), tempfile.TemporaryDirectory(prefix="patcher-archive-") as tmp:
        archive = Path(tmp) / "tree.tar"
        try:
            repo = gitpython.Repo(repo_dir)
            with archive.open("wb") as stream:
                repo.archive(stream, treeish=commit, format="tar")
        except GitCommandNotFound as exc:
            raise _git_missing(exc) from exc
        except GitCommandError as exc:
            raise _tool_error(f"git archive of {commit} failed", exc) from exc
        trees.safe_extract(archive, dest)


def apply_patch(tree: Path, patch_file: Path, *, check_only: bool = False) -> None:
    """`git apply` inside `tree`, with a throwaway git dir naming `tree` as the work tree.

    git apply never fuzzes context; it accepts line offsets only.
    """
    with clean_env(), tempfile.TemporaryDirectory(prefix="patcher-gitdir-") as gitdir:
        try:
            gitpython.Repo.init(gitdir, bare=True)
            cmd = ["git", f"--git-dir={gitdir}", f"--work-tree={tree}", "apply", "--verbose"]
            if check_only:
                cmd.append("--check")
            gitpython.Git(str(tree)).execute([*cmd, str(patch_file.resolve())])
        except GitCommandNotFound as exc:
            raise _git_missing(exc) from exc
        except GitCommandError as exc:
            raise PatchError(
                f"patch {patch_file.name} does not apply to {tree}",
                hint="the upstream code moved; maintainers regenerate the variant with "
                "`patcher refresh --upstream`"
                + (f"\ngit said: {str(exc.stderr).strip()}" if exc.stderr else ""),
            ) from exc


# --- work trees for carrying a patch to a new release (patcher refresh --upstream) ---

_IDENTITY = {"user.name": "pyo3-patcher", "user.email": "pyo3-patcher@localhost"}


def _cfg_args() -> list[str]:
    return [arg for key, value in _IDENTITY.items() for arg in ("-c", f"{key}={value}")]


def commit_tree(tree: Path, message: str) -> None:
    """Make `tree` (our own scratch directory) a repository with all its files committed."""
    with clean_env():
        try:
            repo = gitpython.Repo.init(tree)
            repo.git.add("-A")
            gitpython.Git(str(tree)).execute(["git", *_cfg_args(), "commit", "-q", "-m", message])
        except GitCommandNotFound as exc:
            raise _git_missing(exc) from exc
        except GitCommandError as exc:
            raise _tool_error(f"git could not commit in {tree}", exc) from exc


def store_blob(tree: Path, content: bytes) -> str:
    """Write `content` into the object database of the repository at `tree`."""
    with clean_env(), tempfile.NamedTemporaryFile() as tmp:
        tmp.write(content)
        tmp.flush()
        return str(gitpython.Repo(tree).git.hash_object("-w", tmp.name))


def try_apply(tree: Path, patch_file: Path, *, three_way: bool) -> tuple[bool, str]:
    """Apply in the repository at `tree`; (clean, what git said). A failed three-way apply
    leaves conflict markers in the work tree for a person to resolve."""
    cmd = ["git", "apply", "--verbose"]
    if three_way:
        cmd.append("--3way")
    with clean_env():
        try:
            out = gitpython.Git(str(tree)).execute(
                [*cmd, str(patch_file.resolve())], with_extended_output=True
            )
            return True, str(out[2])
        except GitCommandNotFound as exc:
            raise _git_missing(exc) from exc
        except GitCommandError as exc:
            return False, str(exc.stderr or "")


def diff_work_tree(tree: Path) -> str:
    """The work tree's changes against HEAD, as a git-style patch (3 lines of context)."""
    with clean_env():
        repo = gitpython.Repo(tree)
        repo.git.add("-A")
        return (
            str(repo.git.diff("--cached", "--no-color", "--no-ext-diff", "--abbrev=7", "HEAD"))
            + "\n"
        )


def conflicted_files(tree: Path) -> list[str]:
    with clean_env():
        repo = gitpython.Repo(tree)
        names = repo.git.diff("--name-only", "--diff-filter=U")
        return [n for n in names.splitlines() if n]


def fetch_tag_commit(repo_dir: Path, url: str, tag: str) -> str:
    """Fetch `tag` shallowly into the bare repo `repo_dir`; return the commit it names."""
    with clean_env():
        try:
            repo = _open_bare(repo_dir)
            _remote(repo, url).fetch(f"+refs/tags/{tag}:refs/tags/{tag}", depth=1, no_tags=True)
            return str(repo.git.rev_parse(f"refs/tags/{tag}^{{commit}}"))
        except GitCommandNotFound as exc:
            raise _git_missing(exc) from exc
        except GitCommandError as exc:
            raise SourceError(f"cannot fetch tag {tag} from {url}") from exc
