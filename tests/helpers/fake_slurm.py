#!/usr/bin/env python3
"""A one-node SLURM for tests: ``sbatch``, ``srun``, ``sacct``, ``squeue`` and ``scancel`` on this host.

It emulates the scheduler's command-line interface as submitit drives it, nothing else:

- ``sbatch [--parsable] [--key=value ...] SCRIPT`` reads the script's ``#SBATCH`` lines (up to
  the first command, as sbatch does; command-line options win), records the job with the
  submitting environment (``--export=ALL``), prints ``Submitted batch job <id>`` and returns.
  A detached process then plays the node daemon: it runs the batch script of every array task
  (``--array=0-7%2``: at most 2 at once) with the ``SLURM_*`` variables of a batch step, sends
  output to ``--output``/``--error`` (``%A %a %j %x %N %u %%`` expanded) and enforces ``--time``.
- ``srun [--output P] [--error P] [-n N] [--unbuffered] CMD`` inside a job starts ``SLURM_NTASKS``
  tasks of CMD with ``SLURM_PROCID``/``SLURM_LOCALID``/``SLURM_NODEID`` (``%t`` in paths) and
  returns the highest exit status.
- ``sacct -j ID -o FIELDS --parsable2`` reports states like SLURM's accounting: array tasks that
  started one per line, those still pending folded into ``ID_[i-j%P]``, ``.batch`` steps.
- ``squeue`` lists what is pending or running; ``scancel ID|ID_i|--me`` cancels: SIGTERM, then
  SIGKILL after ``FAKE_SLURM_KILL_WAIT`` seconds (SLURM's KillWait, default 2).

The cluster is this one host (a request for more than one node is refused, as SLURM refuses a
request its nodes cannot meet); nothing is allocated, so ``--gpus-per-node``, ``--mem`` and
``--cpus-per-task`` only set their variables. Not emulated: ``--signal`` before the time limit,
``scancel --signal``, requeueing (``scontrol``), dependencies. State lives in ``$FAKE_SLURM_DIR``;
job ids count up from ``$FAKE_SLURM_FIRST_ID`` (1000), and SLURM never reuses one, so clusters
that share a submitting process (submitit caches finished states by id) need ranges of their own.
:func:`install` puts the commands in a folder to prepend to ``PATH``.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

COMMANDS = ("sbatch", "srun", "sacct", "squeue", "scancel")
FINISHED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT")
POLL_SECONDS = 0.05


class SlurmError(Exception):
    """A command-line error, printed as the real command prints its own (``sbatch: error: ...``)."""


def install(bin_dir: Path) -> Path:
    """Make ``bin_dir`` hold the five commands (links to this file); returns ``bin_dir``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in COMMANDS:
        link = bin_dir / name
        if not link.exists():
            link.symlink_to(Path(__file__).resolve())
    return bin_dir


# --- state: one JSON record per job under a lock -------------------------------------------------


def _state() -> Path:
    folder = os.environ.get("FAKE_SLURM_DIR")
    if not folder:
        raise SlurmError("FAKE_SLURM_DIR is not set (the folder holding the fake cluster's state)")
    path = Path(folder)
    (path / "jobs").mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _locked() -> Iterator[Path]:
    state = _state()
    with open(state / "lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield state
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _load(state: Path, job_id: int) -> dict | None:
    path = state / "jobs" / f"{job_id}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _save(state: Path, record: dict) -> None:
    path = state / "jobs" / f"{record['id']}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)


def jobs(state: Path) -> list[dict]:
    """Every job record of the cluster whose state is in ``state``, by job id."""
    return sorted((json.loads(p.read_text()) for p in (state / "jobs").glob("*.json")), key=lambda r: r["id"])


# --- sbatch --------------------------------------------------------------------------------------


def _parse_options(tokens: list[str], where: str) -> dict[str, str]:
    """``--key=value`` and ``--flag`` tokens -> ``{key: value}`` (flags map to ``""``)."""
    options = {}
    for token in tokens:
        if not token.startswith("--"):
            raise SlurmError(f"unsupported option {token!r} in {where} (use --key=value)")
        key, _, value = token[2:].partition("=")
        options[key] = value
    return options


def script_options(text: str) -> dict[str, str]:
    """The ``#SBATCH`` options of a batch script, read up to its first command as sbatch does."""
    tokens = []
    for line in text.splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#SBATCH"):
            tokens += stripped.removeprefix("#SBATCH").split()
        elif stripped and not stripped.startswith("#"):
            break
    return _parse_options(tokens, "#SBATCH lines")


def parse_array(spec: str) -> tuple[list[int], int | None]:
    """``"0-9:2,12%3"`` -> ``([0, 2, 4, 6, 8, 12], 3)``: the task indices and the running limit."""
    ranges, _, limit = spec.partition("%")
    indices = []
    for part in ranges.split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+))?)?", part)
        if match is None:
            raise SlurmError(f"invalid --array specification {spec!r}")
        low, high, step = int(match[1]), int(match[2] or match[1]), int(match[3] or 1)
        indices += range(low, high + 1, step)
    if not indices or (limit and not limit.isdigit()):
        raise SlurmError(f"invalid --array specification {spec!r}")
    return sorted(set(indices)), int(limit) if limit else None


def parse_minutes(spec: str) -> float:
    """A ``--time`` value (``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``) in minutes."""
    days, _, clock = spec.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:
        hours, minutes, seconds = [*parts, 0, 0][:3]
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    else:
        hours, minutes, seconds = 0, parts[0], parts[1] if len(parts) == 2 else 0
    return int(days or 0) * 1440 + hours * 60 + minutes + seconds / 60


def sbatch(argv: list[str]) -> int:
    parsable = "--parsable" in argv
    args = [a for a in argv if a != "--parsable"]
    if not args or args[-1].startswith("-"):
        raise SlurmError("a batch script is required (sbatch [options] SCRIPT)")
    script = Path(args[-1])
    text = script.read_text()
    if not text.startswith("#!"):
        raise SlurmError("This does not look like a batch script. The first line must start with #!")
    options = script_options(text) | _parse_options(args[:-1], "the command line")
    nodes = int(options.get("nodes", "1"))
    if nodes != 1:
        raise SlurmError("Batch job submission failed: Requested node configuration is not available")
    indices, limit = parse_array(options["array"]) if "array" in options else ([None], None)
    with _locked() as state:
        counter = state / "next-id"
        first = int(counter.read_text() if counter.is_file() else os.environ.get("FAKE_SLURM_FIRST_ID", 1000))
        counter.write_text(str(first + len(indices)))
        record = {
            "id": first,
            "name": options.get("job-name", script.name),
            "options": options,
            "cwd": options.get("chdir", os.getcwd()),
            "env": dict(os.environ),
            "limit": limit,
            "tasks": [
                {"index": index, "job_id": first + n, "state": "PENDING", "exit": "0:0"}
                for n, index in enumerate(indices)
            ],
        }
        _save(state, record)
        (state / "jobs" / f"{first}.sh").write_text(text)  # sbatch keeps the script as submitted
    daemon = [sys.executable, str(Path(__file__).resolve()), "slurmd", str(first)]
    # Detached, and holding none of sbatch's streams, so the caller reading them sees sbatch end.
    with open(state / "jobs" / f"{first}.slurmd.log", "w") as log:
        subprocess.Popen(daemon, start_new_session=True, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    print(first if parsable else f"Submitted batch job {first}", flush=True)
    return 0


# --- the node daemon: runs one job's batch scripts -----------------------------------------------


def _node() -> str:
    return socket.gethostname()


def expand(pattern: str, env: dict[str, str], task: int | None = None) -> str:
    """A SLURM filename pattern with this job's ``%A %a %j %x %N %u %t %%`` filled in."""
    fill = {
        "A": env.get("SLURM_ARRAY_JOB_ID", env["SLURM_JOB_ID"]),
        "a": env.get("SLURM_ARRAY_TASK_ID", "4294967294"),
        "j": env["SLURM_JOB_ID"],
        "x": env["SLURM_JOB_NAME"],
        "N": env["SLURMD_NODENAME"],
        "u": env["USER"],
        "t": str(task if task is not None else 0),
        "%": "%",
    }
    return re.sub(r"%([AajxNut%])", lambda m: fill[m[1]], pattern)


def _batch_env(record: dict, task: dict) -> dict[str, str]:
    options, count = record["options"], len(record["tasks"])
    per_node = int(options.get("ntasks-per-node", "1"))
    env = dict(record["env"])
    env.setdefault("USER", getpass.getuser())
    env |= {
        "SLURM_JOB_ID": str(task["job_id"]),
        "SLURM_JOBID": str(task["job_id"]),
        "SLURM_JOB_NAME": record["name"],
        "SLURM_JOB_USER": env["USER"],
        "SLURM_SUBMIT_DIR": record["cwd"],
        "SLURM_SUBMIT_HOST": _node(),
        "SLURM_CLUSTER_NAME": "fake",
        "SLURM_JOB_NUM_NODES": "1",
        "SLURM_NNODES": "1",
        "SLURM_JOB_NODELIST": _node(),
        "SLURM_NODELIST": _node(),
        "SLURMD_NODENAME": _node(),
        "SLURM_NTASKS": str(per_node),
        "SLURM_NPROCS": str(per_node),
        "SLURM_NTASKS_PER_NODE": str(per_node),
        "SLURM_TASKS_PER_NODE": str(per_node),
        "SLURM_NODEID": "0",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
    }
    named = {
        "partition": "SLURM_JOB_PARTITION",
        "cpus-per-task": "SLURM_CPUS_PER_TASK",
        "gpus-per-node": "SLURM_GPUS_PER_NODE",
    }
    env |= {variable: options[key] for key, variable in named.items() if key in options}
    if options.get("open-mode") == "append":
        env["SLURM_OPEN_MODE"] = "a"
    if task["index"] is not None:
        indices = [t["index"] for t in record["tasks"]]
        env |= {
            "SLURM_ARRAY_JOB_ID": str(record["id"]),
            "SLURM_ARRAY_TASK_ID": str(task["index"]),
            "SLURM_ARRAY_TASK_COUNT": str(count),
            "SLURM_ARRAY_TASK_MIN": str(min(indices)),
            "SLURM_ARRAY_TASK_MAX": str(max(indices)),
        }
    return env


def _log_path(pattern: str, env: dict[str, str], cwd: str) -> Path:
    path = Path(cwd) / expand(pattern, env)
    # SLURM needs the folder to exist; submitit creates it just after sbatch returns, so the
    # daemon, which starts tasks at once, creates it instead of failing the task on a race.
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _start(state: Path, record: dict, task: dict) -> subprocess.Popen:
    """Start the batch script of ``task`` in its own process group, output to its log files."""
    env, options, cwd = _batch_env(record, task), record["options"], record["cwd"]
    default = "slurm-%A_%a.out" if task["index"] is not None else "slurm-%j.out"
    mode = "a" if options.get("open-mode") == "append" else "w"
    command = ["/bin/bash", str(state / "jobs" / f"{record['id']}.sh")]
    with ExitStack() as logs:
        out = logs.enter_context(open(_log_path(options.get("output", default), env, cwd), mode))
        err = (
            logs.enter_context(open(_log_path(options["error"], env, cwd), mode))
            if "error" in options
            else out
        )
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True)


def _signal_group(pid: int, sig: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pid, sig)


def slurmd(argv: list[str]) -> int:
    """Run job ``argv[0]``'s tasks to the end: the running limit, time limit and cancellations."""
    job_id = int(argv[0])
    kill_wait = float(os.environ.get("FAKE_SLURM_KILL_WAIT", "2"))
    running: dict[int, tuple[subprocess.Popen, float]] = {}
    stopping: dict[int, float] = {}  # task position -> when SIGTERM was sent
    while True:
        with _locked() as state:
            record = _load(state, job_id)
            options, tasks = record["options"], record["tasks"]
            limit_s = parse_minutes(options["time"]) * 60 if "time" in options else None
            for pos, (proc, started) in list(running.items()):
                task, code = tasks[pos], proc.poll()
                if code is not None:
                    del running[pos]
                    if task["state"] == "RUNNING":
                        task["state"] = "COMPLETED" if code == 0 else "FAILED"
                    task["exit"] = f"{code}:0" if code >= 0 else f"0:{-code}"
                    task["end"] = time.time()
                elif task["state"] == "RUNNING" and limit_s is not None and time.time() - started > limit_s:
                    task["state"] = "TIMEOUT"
                if code is None and task["state"] in ("CANCELLED", "TIMEOUT"):
                    if pos not in stopping:
                        stopping[pos] = time.time()
                        _signal_group(proc.pid, signal.SIGTERM)
                    elif time.time() - stopping[pos] > kill_wait:
                        _signal_group(proc.pid, signal.SIGKILL)
            for pos, task in enumerate(tasks):
                if task["state"] == "PENDING" and len(running) < (record["limit"] or len(tasks)):
                    proc = _start(state, record, task)
                    running[pos] = (proc, time.time())
                    task |= {"state": "RUNNING", "start": time.time()}
            _save(state, record)
        if not running and all(t["state"] in FINISHED for t in tasks):
            return 0
        time.sleep(POLL_SECONDS)


# --- srun: a job step inside the allocation --------------------------------------------------------


def srun(argv: list[str]) -> int:
    if "SLURM_JOB_ID" not in os.environ:
        raise SlurmError("this fake srun runs job steps inside a batch job only (no SLURM_JOB_ID)")
    paths: dict[str, str] = {}
    ntasks = int(os.environ["SLURM_NTASKS"])
    args = list(argv)
    while args and args[0].startswith("-"):
        flag = args.pop(0)
        if flag in ("-u", "--unbuffered"):
            continue
        key, _, value = flag.partition("=")
        if key not in ("-o", "--output", "-e", "--error", "-n", "--ntasks"):
            raise SlurmError(f"unsupported option {flag!r}")
        value = value or args.pop(0)
        if key in ("-n", "--ntasks"):
            ntasks = int(value)
        else:
            paths["output" if key in ("-o", "--output") else "error"] = value
    if not args:
        raise SlurmError("no command to run")
    with _locked() as state:
        record = _load(state, int(os.environ.get("SLURM_ARRAY_JOB_ID", os.environ["SLURM_JOB_ID"])))
        step = record.setdefault("steps", {}).get(os.environ["SLURM_JOB_ID"], 0)
        record["steps"][os.environ["SLURM_JOB_ID"]] = step + 1
        _save(state, record)
    mode = "a" if os.environ.get("SLURM_OPEN_MODE") == "a" else "w"
    procs = []
    with ExitStack() as logs:
        for rank in range(ntasks):
            env = {**os.environ, "SLURM_STEP_ID": str(step), "SLURM_STEP_NUM_TASKS": str(ntasks)}
            env |= {"SLURM_NTASKS": str(ntasks), "SLURM_PROCID": str(rank), "SLURM_LOCALID": str(rank)}
            env["SLURM_NODEID"] = "0"
            streams = {
                stream: logs.enter_context(open(expand(paths[key], env, rank), mode))
                for stream, key in (("stdout", "output"), ("stderr", "error"))
                if key in paths
            }
            procs.append(subprocess.Popen(args, env=env, **streams))
        codes = [proc.wait() for proc in procs]
    return max(code if code >= 0 else 128 - code for code in codes)


# --- sacct, squeue, scancel ------------------------------------------------------------------------


def _folded(indices: list[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3,5"``."""
    parts, start = [], 0
    for i in range(1, len(indices) + 1):
        if i == len(indices) or indices[i] != indices[i - 1] + 1:
            low, high = indices[start], indices[i - 1]
            parts.append(str(low) if low == high else f"{low}-{high}")
            start = i
    return ",".join(parts)


def _clock(seconds: int, sacct: bool) -> str:
    """Elapsed time as sacct prints it (``00:01:05``) or as squeue does (``1:05``)."""
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if sacct:
        return f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _rows(record: dict, steps: bool) -> list[dict[str, str]]:
    """Accounting rows of one job: started tasks, folded pending ones, and ``.batch`` steps."""
    base = {"JobName": record["name"], "Partition": record["options"].get("partition", "fake")}
    rows, pending = [], []
    for task in record["tasks"]:
        job = str(record["id"]) if task["index"] is None else f"{record['id']}_{task['index']}"
        if task["state"] == "PENDING":
            pending.append(task)
            continue
        seconds = int(task.get("end", time.time()) - task["start"]) if "start" in task else 0
        row = base | {"JobID": job, "JobIDRaw": str(task["job_id"]), "State": task["state"]}
        row |= {"ExitCode": task["exit"], "NodeList": _node() if "start" in task else "None assigned"}
        row["Elapsed"] = _clock(seconds, sacct=True)
        row["TIME"] = _clock(seconds, sacct=False)
        rows.append(row)
        if steps and "start" in task:
            batch_state = "CANCELLED" if task["state"] in ("CANCELLED", "TIMEOUT") else task["state"]
            rows.append(row | {"JobID": f"{job}.batch", "JobName": "batch", "State": batch_state})
    if pending:
        limit = f"%{record['limit']}" if record["limit"] else ""
        if pending[0]["index"] is None:
            job = str(record["id"])
        else:
            job = f"{record['id']}_[{_folded([t['index'] for t in pending])}{limit}]"
        raw = str(record["id"])
        row = base | {"JobID": job, "JobIDRaw": raw, "State": "PENDING", "ExitCode": "0:0"}
        rows.insert(0, row | {"NodeList": "None assigned", "Elapsed": "00:00:00", "TIME": "0:00"})
    return rows


def _wanted(spec: list[str], state: Path) -> list[dict]:
    """Job records named by ``-j`` values (``A`` or ``A_i``, comma lists); all when none given."""
    ids = {int(part.split("_")[0]) for value in spec for part in value.split(",") if part}
    return [r for r in jobs(state) if not ids or r["id"] in ids]


def sacct(argv: list[str]) -> int:
    """Accounting rows of the jobs named by ``-j`` (all without), ``-o`` fields, ``--parsable2``."""
    fields, picked, parsable, steps, args = (
        ["JobID", "JobName", "State", "ExitCode"],
        [],
        False,
        True,
        list(argv),
    )
    while args:
        flag = args.pop(0)
        key, _, value = flag.partition("=")
        if key in ("-o", "--format"):
            fields = (value or args.pop(0)).split(",")
        elif key in ("-j", "--jobs"):
            picked.append(value or args.pop(0))
        elif key in ("-P", "--parsable2"):
            parsable = True
        elif key in ("-X", "--allocations"):
            steps = False
        else:
            raise SlurmError(f"unsupported option {flag!r}")
    if not parsable:
        raise SlurmError("this fake sacct prints --parsable2 output only")
    known = ("JobID", "JobIDRaw", "JobName", "State", "ExitCode", "NodeList", "Partition", "Elapsed")
    if unknown := [f for f in fields if f not in known]:
        raise SlurmError(f"Invalid field requested: {unknown[0]!r}")
    lines = ["|".join(fields)]
    with _locked() as state:
        for record in _wanted(picked, state):
            lines += ["|".join(row[f] for f in fields) for row in _rows(record, steps)]
    print("\n".join(lines), flush=True)
    return 0


def squeue(argv: list[str]) -> int:
    """Pending and running jobs in squeue's default format (``%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R``)."""
    picked, header, args = [], True, list(argv)
    while args:
        flag = args.pop(0)
        key, _, value = flag.partition("=")
        if key in ("-j", "--jobs"):
            picked.append(value or args.pop(0))
        elif key in ("-h", "--noheader"):
            header = False
        elif key != "--me":  # every job of the fake cluster is this user's
            raise SlurmError(f"unsupported option {flag!r}")
    table = (
        [("JOBID", "PARTITION", "NAME", "USER", "ST", "TIME", "NODES", "NODELIST(REASON)")] if header else []
    )
    with _locked() as state:
        for record in _wanted(picked, state):
            user = record["env"].get("USER", getpass.getuser())
            for row in _rows(record, steps=False):
                code = {"PENDING": "PD", "RUNNING": "R"}.get(row["State"])
                where = "(Priority)" if code == "PD" else row["NodeList"]
                if code is not None:
                    table.append(
                        (row["JobID"], row["Partition"], row["JobName"], user, code, row["TIME"], "1", where)
                    )
    widths = (18, 9, 8, 8, 2, 10, 6)
    for line in table:
        print(
            " ".join(f"{cell[:w]:>{w}}" for cell, w in zip(line, widths, strict=False)), line[-1], flush=True
        )
    return 0


def scancel(argv: list[str]) -> int:
    """Cancel jobs (``ID``, ``ID_i``, or ``--me``): pending tasks never start, running ones are stopped."""
    targets = [a for a in argv if a != "--me"]
    if unsupported := [a for a in targets if a.startswith("-")]:
        raise SlurmError(f"unsupported option {unsupported[0]!r}")
    if not targets and "--me" not in argv:
        raise SlurmError("No job identification provided")
    with _locked() as state:
        for record in jobs(state):
            for task in record["tasks"]:
                chosen = "--me" in argv or _names(record, task) & set(targets)
                if chosen and task["state"] in ("PENDING", "RUNNING"):
                    task["state"] = "CANCELLED"  # the daemon stops a running one: SIGTERM, then SIGKILL
            _save(state, record)
    return 0


def _names(record: dict, task: dict) -> set[str]:
    """The ids that designate ``task``: its job's id, its own id, and ``A_i`` within an array."""
    names = {str(record["id"]), str(task["job_id"])}
    if task["index"] is not None:
        names.add(f"{record['id']}_{task['index']}")
    return names


def main(argv: list[str]) -> int:
    name, args = Path(argv[0]).name, argv[1:]
    if name not in (*COMMANDS, "slurmd"):
        name, args = args[0], args[1:]
    command = {"sbatch": sbatch, "srun": srun, "sacct": sacct, "squeue": squeue, "scancel": scancel}
    try:
        return (command | {"slurmd": slurmd})[name](args)
    except SlurmError as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
