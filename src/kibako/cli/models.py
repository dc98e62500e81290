"""kibako models groups|list|describe|register|import|approve|reject|alias|search|history"""

from __future__ import annotations

from typing import Any

import typer

from kibako.cli._context import client, handle_errors
from kibako.cli._output import emit_json, message, table
from kibako.cli._parse import pairs

app = typer.Typer(help="The model registry: versions, approval, aliases, imports.", no_args_is_help=True)


def _ref(group: str, version: str) -> str:
    return (
        f"{group}/{version}"
        if version.lstrip("vV").isdigit() or version == "latest"
        else f"{group}@{version}"
    )


def _show(desc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(desc)
        return
    typer.echo(desc["ModelPackageArn"])
    lines = [
        f"  version    {desc['ModelPackageGroupName']}/{desc['ModelPackageVersion']}",
        f"  approval   {desc['ModelApprovalStatus']}"
        + (f" ({desc['ApprovalDescription']})" if desc.get("ApprovalDescription") else ""),
    ]
    container = (desc.get("InferenceSpecification") or {}).get("Containers", [{}])[0]
    lines.append(f"  model      {container.get('ModelDataUrl', '')}")
    if container.get("Flavor"):
        lines.append(f"  flavor     {container['Flavor']}")
    if desc.get("Aliases"):
        lines.append(f"  aliases    {', '.join(desc['Aliases'])}")
    for key, value in sorted((desc.get("MetricValues") or {}).items()):
        lines.append(f"  {key:<10} {value:.6g}" if value is not None else f"  {key:<10} -")
    message("\n".join(lines))


@app.command("groups")
@handle_errors
def groups(as_json: bool = typer.Option(False, "--json", help="ListModelPackageGroups as JSON.")) -> None:
    """List model package groups."""
    found = client().models.groups()
    if as_json:
        emit_json({"ModelPackageGroupSummaryList": found})
        return
    table(
        None,
        ["group", "created", "description"],
        [[g["ModelPackageGroupName"], g["CreationTime"], g["ModelPackageGroupDescription"]] for g in found],
    )


@app.command("list")
@handle_errors
def list_versions(
    group: str = typer.Option(..., "--group", help="The model package group."),
    status: str = typer.Option(None, "--status", help="Only this approval status."),
    as_json: bool = typer.Option(False, "--json", help="ListModelPackages as JSON."),
) -> None:
    """List a group's versions, newest first."""
    found = client().models.list(group, status)
    if as_json:
        emit_json({"ModelPackageSummaryList": found})
        return
    table(
        group,
        ["version", "approval", "created", "description"],
        [
            [
                v["ModelPackageVersion"],
                v["ModelApprovalStatus"],
                v["CreationTime"],
                v["ModelPackageDescription"],
            ]
            for v in found
        ],
    )


@app.command("describe")
@handle_errors
def describe(
    group: str = typer.Argument(..., help="The group (or a full reference such as churn@champion)."),
    version: str = typer.Argument(None, help="A version number, 'latest' or an alias."),
    as_json: bool = typer.Option(False, "--json", help="DescribeModelPackage as JSON."),
) -> None:
    """Show one version."""
    _show(client().models.get(_ref(group, version) if version else group), as_json)


@app.command("register")
@handle_errors
def register(
    source: str = typer.Argument(..., help="A training job's name, or a model's URI or path."),
    group: str = typer.Option(..., "--group", help="The group (created if new)."),
    description: str = typer.Option("", "--description"),
    metrics: list[str] = typer.Option(None, "--metric", help="NAME=NUMBER to search by (repeatable)."),
    metadata: list[str] = typer.Option(None, "--meta", help="KEY=VALUE customer metadata (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="DescribeModelPackage as JSON."),
) -> None:
    """Register the next version of a group from a job's model or an artifact."""
    numbers = {k: float(v) for k, v in pairs(metrics, "--metric", "auc=0.91").items()}
    desc = client().models.register(
        source,
        group,
        description=description,
        metrics=numbers,
        metadata=pairs(metadata, "--meta", "team=risk"),
    )
    _show(desc, as_json)


@app.command("import")
@handle_errors
def import_model(
    path: str = typer.Argument(..., help="A model file or folder, a model.tar.gz, or its URI."),
    group: str = typer.Option(..., "--group", help="The group (created if new)."),
    flavor: str = typer.Option(
        None, "--flavor", help="sklearn, xgboost, lightgbm, pytorch, onnx, mlflow, sagemaker."
    ),
    model_class: str = typer.Option(None, "--model-class", help="pkg.module:Class for a PyTorch state dict."),
    sample: str = typer.Option(
        None, "--sample", help="A request body the model must answer, e.g. '1,2,3,4'."
    ),
    sample_type: str = typer.Option("text/csv", "--sample-type", help="The sample's content type."),
    description: str = typer.Option("", "--description"),
    as_json: bool = typer.Option(False, "--json", help="DescribeModelPackage as JSON."),
) -> None:
    """Import a model made elsewhere: it must load and predict, else nothing is registered."""
    desc = client().models.import_model(
        path,
        group,
        flavor=flavor,
        model_class=model_class,
        sample=sample,
        sample_content_type=sample_type,
        description=description,
    )
    _show(desc, as_json)


def _decide(status: str) -> Any:
    @handle_errors
    def decide(
        group: str = typer.Argument(..., help="The group."),
        version: str = typer.Argument(..., help="The version number (or an alias)."),
        comment: str = typer.Option("", "--comment", help="Why: kept in the audit trail."),
        as_json: bool = typer.Option(False, "--json", help="DescribeModelPackage as JSON."),
    ) -> None:
        models = client().models
        ref = _ref(group, version)
        desc = models.approve(ref, comment) if status == "Approved" else models.reject(ref, comment)
        _show(desc, as_json)

    decide.__doc__ = f"Set a version's approval to {status}, with a comment kept in its audit trail."
    return decide


app.command("approve")(_decide("Approved"))
app.command("reject")(_decide("Rejected"))


@app.command("alias")
@handle_errors
def alias(
    group: str = typer.Argument(...),
    name: str = typer.Argument(..., help="The alias, e.g. champion."),
    version: int = typer.Argument(None, help="The version it names (leave out with --delete)."),
    remove: bool = typer.Option(False, "--delete", help="Remove the alias."),
) -> None:
    """Point an alias (MLflow semantics) at a version, or remove it."""
    models = client().models
    if remove:
        models.delete_alias(group, name)
        message(f"alias {group}@{name} removed")
        return
    if version is None:
        raise typer.BadParameter("give the version the alias names, or --delete")
    models.set_alias(group, name, version)
    message(f"{group}@{name} -> version {version}")


@app.command("search")
@handle_errors
def search(
    filter: str = typer.Argument("", help="e.g. \"metrics.auc > 0.9 and status = 'Approved'\""),
    group: str = typer.Option(None, "--group"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Find versions by metric, approval status, group name or creation time."""
    found = client().models.search(filter, group)
    if as_json:
        emit_json({"ModelPackageSummaryList": found})
        return
    table(
        None,
        ["version", "approval", "metrics"],
        [
            [
                f"{d['ModelPackageGroupName']}/{d['ModelPackageVersion']}",
                d["ModelApprovalStatus"],
                ", ".join(f"{k}={v:.4g}" for k, v in sorted(d["MetricValues"].items()) if v is not None),
            ]
            for d in found
        ],
    )


@app.command("history")
@handle_errors
def history(
    group: str = typer.Argument(...),
    version: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The version's audit trail: who changed what, when, and why."""
    found = client().models.history(_ref(group, version))
    if as_json:
        emit_json(found)
        return
    table(None, ["time", "actor", "change"], [[h["Time"], h["Actor"], h["Change"]] for h in found])
