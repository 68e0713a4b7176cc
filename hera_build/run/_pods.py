"""Pod nodes as Argo's emissary runs them: command and args, the script source staged as a file and appended as
the last argument, input artifacts placed before start, ``outputs.result`` from stdout, output parameters and
artifacts read from their paths after exit, the log kept under the run folder."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from hera_build.errors import RunError
from hera_build.run._core import RUN_LABEL, SCRIPT_PATH, NodeRunner, _Ctx, _duration, _text
from hera_build.run.containers import ContainerResult, ContainerSpec, file_from_tar, tar_file, tar_placed
from hera_build.run.nodes import Node, Phase

_RESULT_LIMIT = 256 * 1024
_DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


class PodRunner(NodeRunner):
    def _artifact_archive(self, artifact: Mapping[str, Any]) -> bytes:
        path = str(artifact.get("path") or "")
        if not path:
            raise RunError(f"input artifact {artifact.get('name')!r} has no path", "give the input artifact a path")
        mode = int(artifact["mode"]) if artifact.get("mode") is not None else None
        if artifact.get("raw"):
            return tar_file(path, str(artifact["raw"].get("data", "")).encode(), mode or 0o644)
        key = str(artifact["from"])
        stored = self.artifacts.get(key)
        if stored is None:
            raise RunError(
                f"input artifact {artifact.get('name')!r}: no artifact {key!r} in this run",
                "take it from an output artifact of a step or task that ran before",
            )
        return tar_placed(stored.read_bytes(), path, mode)

    # ------------------------------------------------------------------------------------------------ pods

    def _image(self, image: str) -> str:
        return self.options.images.get(image, image)

    def _pod(self, node: Node, template: Mapping[str, Any], ctx: _Ctx) -> Node:
        kind = "script" if template.get("script") is not None else "container"
        body = template[kind]
        files: dict[str, bytes] = {}
        command = tuple(str(c) for c in body["command"]) if body.get("command") is not None else None
        args = tuple(str(a) for a in body["args"]) if body.get("args") is not None else None
        if kind == "script":
            files[SCRIPT_PATH] = str(body.get("source", "")).encode()
            args = (*(args or ()), SCRIPT_PATH)
        archives = tuple(self._artifact_archive(a) for a in self.input_artifacts.get(node.id, []))
        outputs = template.get("outputs") or {}
        collect = [
            str(p["valueFrom"]["path"])
            for p in outputs.get("parameters") or []
            if (p.get("valueFrom") or {}).get("path")
        ]
        collect += [str(a["path"]) for a in outputs.get("artifacts") or [] if a.get("path")]
        timeout = float(str(template["activeDeadlineSeconds"])) if template.get("activeDeadlineSeconds") else None
        if ctx.deadline is not None:
            remaining = max(0.0, ctx.deadline - time.monotonic())
            timeout = remaining if timeout is None else min(timeout, remaining)
        spec = ContainerSpec(
            name=f"hera-build-{node.id}",
            image=self._image(str(body.get("image", ""))),
            command=command,
            args=args,
            env={str(e["name"]): str(e.get("value", "")) for e in body.get("env") or []},
            working_dir=body.get("workingDir"),
            files=files,
            archives=archives,
            volumes=tuple(str(m["mountPath"]) for m in body.get("volumeMounts") or []),
            collect=tuple(collect),
            timeout=timeout,
            network=self.options.network,
            labels={RUN_LABEL: self.workflow.name, "hera-build.dev/node": node.id},
        )
        if self.pod_slots is not None:
            with self.pod_slots:
                result = self._run_container(spec)
        else:
            result = self._run_container(spec)
        self._write_log(node, result)
        return self._pod_outcome(node, template, result)

    def _run_container(self, spec: ContainerSpec) -> ContainerResult:
        if self.cancel.is_set():
            return ContainerResult(exit_code=None, cancelled=True)
        return self.engine.run(spec, self.cancel)

    def _write_log(self, node: Node, result: ContainerResult) -> None:
        logs = self.options.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        text = result.log if result.error is None else f"{result.log}{result.error}\n"
        (logs / f"{node.id}.log").write_text(text)
        node.log_path = f"logs/{node.id}.log"

    def _pod_outcome(self, node: Node, template: Mapping[str, Any], result: ContainerResult) -> Node:
        outputs: dict[str, Any] = {}
        if result.exit_code is not None:
            stdout = result.stdout[:-1] if result.stdout.endswith("\n") else result.stdout
            outputs["result"] = stdout[-_RESULT_LIMIT:]
            outputs["exitCode"] = str(result.exit_code)
        problems: list[str] = []
        if result.exit_code is not None and not result.cancelled and not result.timed_out:
            self._collect_outputs(node, template, result, outputs, problems)
        node.outputs = outputs or None
        if result.error is not None:
            return self.tree.finish(node, Phase.ERROR, result.error)
        if result.cancelled:
            return self.tree.finish(node, Phase.FAILED, "terminated")
        if result.timed_out:
            return self.tree.finish(node, Phase.FAILED, _DEADLINE_MESSAGE)
        if result.exit_code != 0:
            return self.tree.finish(node, Phase.FAILED, f"Error (exit code {result.exit_code})")
        if problems:
            return self.tree.finish(node, Phase.ERROR, problems[0])
        return self.tree.finish(node, Phase.SUCCEEDED)

    def _collect_outputs(
        self,
        node: Node,
        template: Mapping[str, Any],
        result: ContainerResult,
        outputs: dict[str, Any],
        problems: list[str],
    ) -> None:
        declared = template.get("outputs") or {}
        parameters = []
        for param in declared.get("parameters") or []:
            value_from = param.get("valueFrom") or {}
            path = value_from.get("path")
            if not path:
                continue
            stream = result.collected.get(str(path))
            content = file_from_tar(stream) if stream is not None else None
            if content is None:
                if value_from.get("default") is None:
                    problems.append(f"output parameter {param['name']!r}: open {path}: no such file")
                    continue
                text = _text(value_from["default"])
            else:
                text = content.decode(errors="replace")
            text = text[:-1] if text.endswith("\n") else text
            parameters.append({"name": param["name"], "value": text, "valueFrom": {"path": path}})
            self._global_output(param, text)
        artifacts = []
        for artifact in declared.get("artifacts") or []:
            path = artifact.get("path")
            if not path:
                continue
            stream = result.collected.get(str(path))
            if stream is None:
                if not artifact.get("optional"):
                    problems.append(f"output artifact {artifact['name']!r}: {path} does not exist")
                continue
            artifacts.append({"name": artifact["name"], "path": path})
            self._store_artifact(node, str(artifact["name"]), stream)
        if parameters:
            outputs["parameters"] = parameters
        if artifacts:
            outputs["artifacts"] = artifacts

    def _store_artifact(self, node: Node, name: str, stream: bytes) -> None:
        folder = self.options.run_dir / "artifacts" / node.id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.tar"
        path.write_bytes(stream)
        with self._lock:
            self.artifacts[f"{node.id}/{name}"] = path

    def _suspend(self, node: Node, template: Mapping[str, Any], ctx: _Ctx) -> Node:
        try:
            seconds = _duration(template["suspend"]["duration"])
        except RunError as exc:
            return self.tree.finish(node, Phase.ERROR, exc.message)
        if ctx.deadline is not None and time.monotonic() + seconds > ctx.deadline:
            self.cancel.wait(max(0.0, ctx.deadline - time.monotonic()))
            return self.tree.finish(node, Phase.FAILED, "Step exceeded its deadline")
        if self.cancel.wait(seconds):
            return self.tree.finish(node, Phase.FAILED, "terminated")
        return self.tree.finish(node, Phase.SUCCEEDED)
