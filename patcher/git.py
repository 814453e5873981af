"""The one boundary to git, through GitPython.

Each call runs with an environment of its own, set on its GitPython `Git` object (never on
`os.environ`): GitPython starts every child from our environment and lets us override, not
remove, so every variable that steers where git looks (GIT_DIR, GIT_WORK_TREE,
GIT_INDEX_FILE, GIT_OBJECT_DIRECTORY, GIT_COMMON_DIR, ...), inherited from a git hook or a
parent repository, is overridden with the locations of the repository this call is about.
(`git apply` run inside someone else's repository silently skips paths or acts on the wrong
index.) A remote that asks for a password fails instead of prompting.

GitPython itself is imported on first use, so that a machine without git gets our error
(exit 6, with a hint) rather than GitPython's import failure.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from patcher import cache, trees, ui
from patcher.errors import ExternalError, PatchError, SourceError, UsageError

_NEUTRAL = {
    "GIT_ALTERNATE_OBJECT_DIRECTORIES": "",
    "GIT_NAMESPACE": "",
    "GIT_CONFIG_PARAMETERS": "",
    "GIT_CONFIG_COUNT": "0",
}
# Only these transports, whatever a URL or a config says: no `ext::` (runs a command), no
# `fd::`; redirects and submodules are held to the same list.
_ALLOWED_PROTOCOLS = "file:git:http:https:ssh"
_GIT_HINT = "install git (e.g. `apt-get install git`) and make sure it is on PATH"
_FAILED_HINT = "read what git said above; check the URL, the network and the disk"


def _gitpython() -> ModuleType:
    try:
        import git as gitpython
    except ImportError as exc:  # GitPython refuses to import when no git runs
        raise ExternalError(f"git could not be run: {exc}".splitlines()[0], hint=_GIT_HINT) from exc
    return gitpython


class _Repository:
    """Where a repository's parts are: its git dir, its objects, its work tree (if any)."""

    def __init__(self, git_dir: Path, work_tree: Path | None = None) -> None:
        self.git_dir = git_dir
        self.work_tree = work_tree
        common = git_dir / "commondir"  # a linked work tree keeps its objects there
        self.common_dir = (
            (git_dir / common.read_text(encoding="utf-8").strip()).resolve()
            if common.is_file()
            else git_dir
        )

    def environment(self) -> dict[str, str]:
        """Where git is to look, for this repository, overriding whatever was inherited."""
        env = {
            "GIT_DIR": str(self.git_dir),
            "GIT_INDEX_FILE": str(self.git_dir / "index"),
            "GIT_OBJECT_DIRECTORY": str(self.common_dir / "objects"),
            "GIT_COMMON_DIR": str(self.common_dir),
            "GIT_TERMINAL_PROMPT": "0",  # an unreachable remote must fail, not ask
            "GIT_ALLOW_PROTOCOL": _ALLOWED_PROTOCOLS,
            # a replace ref in a (cached, untrusted) repository would make a commit id name
            # another tree; ids must mean their content
            "GIT_NO_REPLACE_OBJECTS": "1",
        }
        if self.work_tree is not None:
            env["GIT_WORK_TREE"] = str(self.work_tree)
        # inherited ones whose empty value is harmless (where an empty value means something,
        # as GIT_QUARANTINE_PATH does, it cannot be neutralized this way and stays)
        for name, neutral in _NEUTRAL.items():
            if name in os.environ:
                env[name] = neutral
        return env

    def git(self) -> Any:
        cmd = _gitpython().Git(str(self.work_tree or self.git_dir))
        cmd.update_environment(**self.environment())
        return cmd


def _error(what: str, exc: Exception, hint: str = _FAILED_HINT) -> ExternalError:
    gitpython = _gitpython()
    if isinstance(exc, gitpython.exc.GitCommandNotFound):
        return ExternalError(f"git could not be run: {exc}", hint=_GIT_HINT)
    command = getattr(exc, "command", ())
    status = getattr(exc, "status", None)
    return ExternalError(
        what,
        hint=hint,
        command=[str(c) for c in command] if isinstance(command, (list, tuple)) else [],
        returncode=status if isinstance(status, int) else None,
        stdout=str(getattr(exc, "stdout", "") or ""),
        stderr=str(getattr(exc, "stderr", "") or ""),
    )


def _git_said(exc: ExternalError) -> str:
    return f"\ngit said: {exc.stderr.strip()}" if exc.stderr.strip() else ""


def _run(repo: _Repository, args: list[str], what: str, **kwargs: Any) -> str:
    gitpython = _gitpython()
    ui.say(f"+ git {' '.join(args)}  (in {repo.git_dir})", at=ui.Level.VERBOSE)
    try:
        return str(repo.git().execute(["git", *args], **kwargs))
    except (gitpython.exc.GitCommandError, gitpython.exc.GitCommandNotFound) as exc:
        raise _error(what, exc) from exc


# --- URLs are data ----------------------------------------------------------------------

URL_SCHEMES = ("https", "http", "ssh", "git", "file")
URL_HINT = (
    "name a git repository by an https://, http://, ssh://, git:// or file:// URL, or as "
    "user@host:path (scp-like ssh); a local folder as file:///absolute/path"
)
_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._~+-]+@)?(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*):(?!//)\S")


def url_problem(url: str) -> str | None:
    """Why `url` is not a git URL we fetch from (None when it is one).

    A URL comes from a project's pyproject.toml or the environment, both untrusted: one that
    git would read as an option (`--upload-pack=<command>`) or as a transport that runs a
    program (`ext::<command>`) must never reach git. Only URLs with the schemes above, or
    scp-like `[user@]host:path` whose host starts with a letter or digit, pass."""
    if not url:
        return "it is empty"
    if url.startswith("-"):
        return "it starts with '-', so git would read it as an option"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "it contains whitespace or a control character"
    scheme, sep, rest = url.partition("://")
    if sep:
        if scheme.lower() not in URL_SCHEMES:
            return f"its scheme {scheme!r} is not one patcher fetches from"
        host = rest.split("/", 1)[0].rpartition("@")[2]
        if host.startswith("-"):
            return "its host starts with '-', so ssh would read it as an option"
        if scheme.lower() != "file" and not host:
            return "it names no host"
        return None
    if "::" in url:
        return "it names a git remote helper (`<transport>::`), which runs a program"
    if _SCP_LIKE.match(url):
        return None
    return "it is neither a URL with a scheme nor user@host:path"


def _check_url(url: str) -> None:
    problem = url_problem(url)
    if problem is not None:
        raise UsageError(f"refusing the git URL {url!r}: {problem}", hint=URL_HINT)


# --- bare mirrors in the cache ---------------------------------------------------------

# A mirror's own config, written by us before every use: the cache is shared and untrusted,
# and a repository's config can make git run programs (core.sshCommand, a remote's
# uploadpack, url.<x>.insteadOf to a helper) or look elsewhere for objects.
_MIRROR_CONFIG = "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n"
# what in a bare repository can run a program or bring in objects from elsewhere
_MIRROR_EXTRAS = (
    "hooks",
    "info/attributes",  # git archive reads it: export-ignore, export-subst
    "info/grafts",
    "objects/info/alternates",
    "objects/info/http-alternates",
)


def _sanitize_mirror(repo_dir: Path) -> bool:
    """Make a cached mirror hold nothing but objects and refs that we put there; False (and
    nothing touched) when a part of it is a link, which only someone else makes."""
    parts = ("config", "info", "objects", "objects/info", "refs", "shallow", "HEAD")
    if any((repo_dir / name).is_symlink() for name in parts):
        return False
    with cache.writing(repo_dir):
        for name in _MIRROR_EXTRAS:
            path = repo_dir / name
            if os.path.lexists(path):
                cache.remove(path)
        cache.write_new(repo_dir / "config", _MIRROR_CONFIG.encode())  # never through a link
    return True


def _init_bare(repo_dir: Path) -> _Repository:
    """Our bare mirror in the cache; a damaged one is thrown away and started afresh."""
    repo = _Repository(repo_dir)
    if (repo_dir / "HEAD").is_file() and not repo_dir.is_symlink() and _sanitize_mirror(repo_dir):
        try:
            _run(repo, ["rev-parse", "--git-dir"], "git mirror check")
            return repo
        except ExternalError:
            ui.warn(f"git mirror {repo_dir.name} is damaged; fetching afresh")
    if repo_dir.exists() or repo_dir.is_symlink():
        cache.remove(repo_dir)
    repo_dir.mkdir(parents=True)
    _run(repo, ["init", "--bare", "-q", str(repo_dir)], f"git init of {repo_dir}")
    _sanitize_mirror(repo_dir)
    return repo


def has_commit(repo_dir: Path, commit: str) -> bool:
    if not (repo_dir / "HEAD").is_file() or repo_dir.is_symlink():
        return False
    if not _sanitize_mirror(repo_dir):
        return False
    try:
        kind = _run(_Repository(repo_dir), ["cat-file", "-t", commit], "git cat-file")
    except ExternalError:
        return False
    return kind.strip() == "commit"


def _fetch(repo: _Repository, url: str, refspec: str, depth: int, label: str) -> None:
    _check_url(url)
    args = ["fetch", "--no-tags", f"--depth={depth}", "--", url, refspec]
    with ui.progress(label):
        _run(repo, args, f"git could not fetch {refspec} from {url}")


def fetch_pinned(
    repo_dir: Path, url: str, *, tag: str, commit: str, expected_tag_commit: str
) -> None:
    """Fetch `tag` and `commit` shallowly from `url` into the bare repo `repo_dir`.

    Raises SourceError when the remote cannot be reached or the tag names another commit.
    """
    repo = _init_bare(repo_dir)
    try:
        _fetch(repo, url, f"+refs/tags/{tag}:refs/tags/{tag}", 1, f"fetching {tag} from {url}")
    except ExternalError as exc:
        raise SourceError(
            f"cannot fetch tag {tag} from {url}",
            hint="check the URL and the network, set a mirror with PYO3_PATCHER_<UPSTREAM>_URL, "
            "or let patcher fall back to the published crates (it does unless --source git)"
            + _git_said(exc),
        ) from exc
    tag_commit = _run(repo, ["rev-parse", f"refs/tags/{tag}^{{commit}}"], "git rev-parse").strip()
    if tag_commit != expected_tag_commit:
        raise SourceError(
            f"tag {tag} at {url} points at {tag_commit}, but the pin says "
            f"{expected_tag_commit}: the tag was moved",
            hint="do not build from a moved tag; report it, and if the move is legitimate "
            "re-pin with `patcher refresh --upstream`",
        )
    if tag_commit == commit or has_commit(repo_dir, commit):
        return
    try:
        _run(repo, ["fetch", "--no-tags", "--depth=1", "--", url, commit], "git fetch of a commit")
    except ExternalError:
        # Servers that refuse to serve a bare SHA: walk back from the tag instead.
        _fetch(repo, url, f"+refs/tags/{tag}:refs/tags/{tag}", 50, f"deepening {tag}")
    if not has_commit(repo_dir, commit):
        raise SourceError(
            f"commit {commit} could not be fetched from {url}",
            hint="the pin names a commit the remote does not have within 50 commits of its tag",
        )


def fetch_tag_commit(repo_dir: Path, url: str, tag: str) -> str:
    """Fetch `tag` shallowly into the bare repo `repo_dir`; return the commit it names."""
    repo = _init_bare(repo_dir)
    try:
        _fetch(repo, url, f"+refs/tags/{tag}:refs/tags/{tag}", 1, f"fetching {tag} from {url}")
    except ExternalError as exc:
        raise SourceError(
            f"cannot fetch tag {tag} from {url}", hint="check the version, the URL and the network"
        ) from exc
    return _run(repo, ["rev-parse", f"refs/tags/{tag}^{{commit}}"], "git rev-parse").strip()


def check_objects(repo_dir: Path, commit: str) -> None:
    """Every object of the mirror `repo_dir` must hash to its id, and `commit` with its whole
    tree must be there: then the files of `commit` are exactly what the id names, however
    the mirror came to be (git reads an object without re-hashing it; fsck re-hashes)."""
    repo = _Repository(repo_dir)
    try:
        _run(
            repo,
            ["fsck", "--no-progress", "--no-dangling", "--no-reflogs", commit],
            "git fsck of the cached mirror",
        )
    except ExternalError as exc:
        raise SourceError(
            f"the cached git mirror {repo_dir.name} holds objects that do not match their "
            f"ids (or lacks some of {commit[:12]})",
            hint=f"delete {repo_dir} and run again: it is fetched afresh" + _git_said(exc),
        ) from exc


def export_tree(repo_dir: Path, commit: str, dest: Path) -> None:
    """Write the files of `commit` into the empty directory `dest` (no .git)."""
    repo = _Repository(repo_dir)
    with tempfile.TemporaryDirectory(prefix="patcher-archive-") as tmp:
        archive = Path(tmp) / "tree.tar"
        with archive.open("wb") as stream:
            _run(
                repo,
                ["archive", "--format=tar", commit],
                f"git archive of {commit}",
                output_stream=stream,
            )
        trees.safe_extract(archive, dest)


# --- applying patches ------------------------------------------------------------------


def apply_patch(tree: Path, patch_file: Path, *, check_only: bool = False) -> None:
    """`git apply` inside `tree`, with a throwaway git dir naming `tree` as the work tree.

    git apply never fuzzes context; it accepts line offsets only.
    """
    with tempfile.TemporaryDirectory(prefix="patcher-gitdir-") as gitdir:
        _run(_Repository(Path(gitdir)), ["init", "-q", "--bare", gitdir], "git init")
        repo = _Repository(Path(gitdir), tree)
        args = ["apply", "--verbose", *(["--check"] if check_only else [])]
        try:
            _run(repo, [*args, str(patch_file.resolve())], "git apply")
        except ExternalError as exc:
            raise PatchError(
                f"patch {patch_file.name} does not apply to {tree}",
                hint="the upstream code moved; maintainers regenerate the variant with "
                "`patcher refresh --upstream`" + _git_said(exc),
            ) from exc


# --- work trees for carrying a patch to a new release (patcher refresh --upstream) ---

_IDENTITY = ["-c", "user.name=pyo3-patcher", "-c", "user.email=pyo3-patcher@localhost"]


def _work_tree(tree: Path) -> _Repository:
    return _Repository(tree / ".git", tree)


def commit_tree(tree: Path, message: str) -> None:
    """Make `tree` (our own scratch directory) a repository with all its files committed."""
    _run(_Repository(tree / ".git"), ["init", "-q", str(tree)], f"git init in {tree}")
    repo = _work_tree(tree)
    _run(repo, ["add", "-A"], f"git add in {tree}")
    _run(repo, [*_IDENTITY, "commit", "-q", "-m", message], f"git commit in {tree}")


def store_blob(tree: Path, content: bytes) -> str:
    """Write `content` into the object database of the repository at `tree`."""
    with tempfile.NamedTemporaryFile() as tmp:
        tmp.write(content)
        tmp.flush()
        return _run(_work_tree(tree), ["hash-object", "-w", tmp.name], "git hash-object").strip()


def try_apply(tree: Path, patch_file: Path, *, three_way: bool) -> tuple[bool, str]:
    """Apply in the repository at `tree`; (clean, what git said). A failed three-way apply
    leaves conflict markers in the work tree for a person to resolve."""
    args = ["apply", "--verbose", *(["--3way"] if three_way else []), str(patch_file.resolve())]
    try:
        status, _out, err = (
            _work_tree(tree)
            .git()
            .execute(["git", *args], with_extended_output=True, with_exceptions=False)
        )
    except _gitpython().exc.GitCommandNotFound as exc:
        raise _error("git apply", exc) from exc
    return status == 0, str(err)


def diff_work_tree(tree: Path) -> str:
    """The work tree's changes against HEAD, as a git-style patch (3 lines of context)."""
    repo = _work_tree(tree)
    _run(repo, ["add", "-A"], "git add")
    diff = _run(
        repo,
        ["diff", "--cached", "--no-color", "--no-ext-diff", "--abbrev=7", "HEAD"],
        "git diff",
    )
    return diff + "\n"


def conflicted_files(tree: Path) -> list[str]:
    names = _run(_work_tree(tree), ["diff", "--name-only", "--diff-filter=U"], "git diff")
    return [n for n in names.splitlines() if n]


# --- the user's repository: read-only questions ----------------------------------------


def work_tree_of(path: Path) -> Path | None:
    """The top of the git work tree that holds `path` (found without running git, so that
    nothing inherited steers the answer); None outside one."""
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _user_repository(work_tree: Path) -> _Repository:
    dot_git = work_tree / ".git"
    if dot_git.is_file():  # a linked work tree or a submodule: `gitdir: <path>`
        text = dot_git.read_text(encoding="utf-8").strip()
        git_dir = (work_tree / text.removeprefix("gitdir:").strip()).resolve()
    else:
        git_dir = dot_git
    return _Repository(git_dir, work_tree)


def _with_paths(work_tree: Path, args: list[str], paths: list[str]) -> str:
    """`git ARGS --stdin -z` in the user's work tree with `paths` on its standard input; its
    output (exit 1, "nothing matched", is not an error)."""
    repo = _user_repository(work_tree)
    with tempfile.TemporaryFile() as stdin:
        stdin.write("".join(p + "\0" for p in paths).encode("utf-8"))
        stdin.seek(0)
        try:
            status, out, err = repo.git().execute(
                ["git", *args, "--stdin", "-z"],
                istream=stdin,
                with_extended_output=True,
                with_exceptions=False,
                strip_newline_in_stdout=False,
            )
        except _gitpython().exc.GitCommandNotFound as exc:
            raise _error(f"git {args[0]}", exc) from exc
    if status not in (0, 1):
        raise ExternalError(
            f"git {args[0]} failed in {work_tree}",
            hint="read what git said above",
            command=["git", *args, "--stdin", "-z"],
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
