"""``crm-bridge outlook-addin``: the Outlook add-in's XML manifest for wherever its static files
are hosted (HTTPS), and a copy of those files to publish.

Two manifests (reference mail-clients.md §A):

- the default one asks for ReadWriteItem only and installs from requirement set Mailbox 1.1
  (every Outlook, Exchange Server on premises included); its read-surface button
  (ExecuteFunction, VersionOverrides 1.0, Mailbox 1.3) puts "Track in CRM" on the message and
  feature-detects Mailbox 1.8 at run time;
- ``--full`` adds the task pane that lists the Regarding categories of the master list and
  applies one to several selected messages; reading the master list and the selection needs
  ReadWriteMailbox, which a tenant may withhold from users, hence the separate manifest.

:func:`problems` checks a manifest against Microsoft's published XML schemas (MS-OWEMXML, a
local copy under ``resources/mail-clients/outlook/schemas`` — see its SOURCE.md), offline, and
then against the documented rules a schema cannot say (HTTPS under the base URL, resource ids
of at most 32 characters, every resid naming a resource). A manifest that fails either is never
written.
"""

from __future__ import annotations

import functools
import re
import shutil
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lxml import etree  # type: ignore[import-untyped]

from addin.errors import ConfigError

SOURCE = Path(__file__).resolve().parents[1] / "resources" / "mail-clients" / "outlook"
SCHEMA = SOURCE / "schemas" / "OfficeAppManifestV1_1.xsd"
VERSION = "1.0.0.0"
NS = "http://schemas.microsoft.com/office/appforoffice/1.1"
BT = "http://schemas.microsoft.com/office/officeappbasictypes/1.0"
VO10 = "http://schemas.microsoft.com/office/mailappversionoverrides"
VO11 = "http://schemas.microsoft.com/office/mailappversionoverrides/1.1"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
# The order of OfficeApp's children for a MailApp (Microsoft's manifest reference, officeapp.md).
TOP_ORDER = (
    "Id", "AlternateId", "Version", "ProviderName", "DefaultLocale", "DisplayName", "Description",
    "IconUrl", "HighResolutionIconUrl", "SupportUrl", "AppDomains", "Hosts", "Requirements",
    "FormSettings", "Permissions", "Rule", "DisableEntityHighlighting", "VersionOverrides",
)  # fmt: skip
FUNCTION_NAME = "trackInCrm"
STATIC_FILES = ("commands.html", "commands.js", "track.js", "taskpane.html", "taskpane.js")


def base_url(text: str) -> str:
    """The hosting folder as ``https://host[:port]/path/``; refuses anything else readably."""
    parts = urlsplit(text.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(
            "Outlook loads add-in files over HTTPS only: give --base-url https://…", title="Bad base URL"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(
            "The base URL must be a plain folder URL (no query, fragment or user).", title="Bad base URL"
        )
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"https://{parts.netloc}{path}"


def _e(parent: Any, ns: str, tag: str, text: str | None = None, **attrs: str) -> Any:
    el = etree.SubElement(parent, f"{{{ns}}}{tag}")
    for key, value in attrs.items():
        el.set(f"{{{XSI}}}type" if key == "xsi_type" else key, value)
    if text is not None:
        el.text = text
    return el


def _host(parent: Any, ns: str, *, full: bool, v11: bool) -> None:
    hosts = _e(parent, ns, "Hosts")
    host = _e(hosts, ns, "Host", xsi_type="MailHost")
    desktop = _e(host, ns, "DesktopFormFactor")
    _e(desktop, ns, "FunctionFile", resid="commandsUrl")
    point = _e(desktop, ns, "ExtensionPoint", xsi_type="MessageReadCommandSurface")
    tab = _e(point, ns, "OfficeTab", id="TabDefault")
    group = _e(tab, ns, "Group", id="crmGroup")
    _e(group, ns, "Label", resid="groupLabel")
    buttons = [("trackButton", "trackLabel", "trackTip")]
    if full:
        buttons.append(("paneButton", "paneLabel", "paneTip"))
    for control_id, label, tip in buttons:
        control = _e(group, ns, "Control", xsi_type="Button", id=control_id)
        _e(control, ns, "Label", resid=label)
        supertip = _e(control, ns, "Supertip")
        _e(supertip, ns, "Title", resid=label)
        _e(supertip, ns, "Description", resid=tip)
        icon = _e(control, ns, "Icon")
        for size in ("16", "32", "80"):
            _e(icon, BT, "Image", size=size, resid=f"icon{size}")
        if control_id == "trackButton":
            action = _e(control, ns, "Action", xsi_type="ExecuteFunction")
            _e(action, ns, "FunctionName", FUNCTION_NAME)
        else:
            action = _e(control, ns, "Action", xsi_type="ShowTaskpane")
            _e(action, ns, "SourceLocation", resid="paneUrl")
            if v11:
                _e(action, ns, "SupportsPinning", "true")
                _e(action, ns, "SupportsMultiSelect", "true")


def _resources(parent: Any, ns: str, url: str, *, full: bool) -> None:
    res = _e(parent, ns, "Resources")
    images = _e(res, BT, "Images")
    for size in ("16", "32", "80"):
        _e(images, BT, "Image", id=f"icon{size}", DefaultValue=f"{url}assets/icon-{size}.png")
    urls = _e(res, BT, "Urls")
    _e(urls, BT, "Url", id="commandsUrl", DefaultValue=f"{url}commands.html")
    if full:
        _e(urls, BT, "Url", id="paneUrl", DefaultValue=f"{url}taskpane.html")
    short = _e(res, BT, "ShortStrings")
    _e(short, BT, "String", id="groupLabel", DefaultValue="CRM")
    _e(short, BT, "String", id="trackLabel", DefaultValue="Track in CRM")
    if full:
        _e(short, BT, "String", id="paneLabel", DefaultValue="Track with Regarding")
    long = _e(res, BT, "LongStrings")
    _e(long, BT, "String", id="trackTip", DefaultValue="Track this message in the CRM through CRM Bridge.")
    if full:
        _e(
            long, BT, "String", id="paneTip",
            DefaultValue="Pick a Regarding record for this message, or for several selected messages.",
        )  # fmt: skip


def manifest(url: str, *, full: bool = False) -> bytes:
    """The XML manifest for add-in files hosted at ``url`` (see :func:`base_url`)."""
    url = base_url(url)
    root = etree.Element(f"{{{NS}}}OfficeApp", nsmap={None: NS, "xsi": XSI, "bt": BT})
    root.set(f"{{{XSI}}}type", "MailApp")
    add_in_id = uuid.uuid5(uuid.NAMESPACE_URL, url + ("#full" if full else ""))
    _e(root, NS, "Id", str(add_in_id))
    _e(root, NS, "Version", VERSION)
    _e(root, NS, "ProviderName", "CRM Bridge")
    _e(root, NS, "DefaultLocale", "en-US")
    _e(root, NS, "DisplayName", DefaultValue="Track in CRM" + (" (Regarding)" if full else ""))
    _e(root, NS, "Description", DefaultValue="Track mail in Microsoft Dynamics 365 with CRM Bridge.")
    _e(root, NS, "IconUrl", DefaultValue=f"{url}assets/icon-64.png")
    _e(root, NS, "HighResolutionIconUrl", DefaultValue=f"{url}assets/icon-128.png")
    _e(_e(root, NS, "Hosts"), NS, "Host", Name="Mailbox")
    _e(_e(_e(root, NS, "Requirements"), NS, "Sets"), NS, "Set", Name="Mailbox", MinVersion="1.1")
    form = _e(_e(root, NS, "FormSettings"), NS, "Form", xsi_type="ItemRead")
    desktop = _e(form, NS, "DesktopSettings")
    _e(desktop, NS, "SourceLocation", DefaultValue=f"{url}taskpane.html")
    _e(desktop, NS, "RequestedHeight", "250")
    _e(root, NS, "Permissions", "ReadWriteMailbox" if full else "ReadWriteItem")
    rule = _e(root, NS, "Rule", xsi_type="RuleCollection", Mode="Or")
    _e(rule, NS, "Rule", xsi_type="ItemIs", ItemType="Message", FormType="Read")
    vo = etree.SubElement(root, f"{{{VO10}}}VersionOverrides", nsmap={None: VO10})
    vo.set(f"{{{XSI}}}type", "VersionOverridesV1_0")
    sets = _e(_e(vo, VO10, "Requirements"), BT, "Sets", DefaultMinVersion="1.3")
    _e(sets, BT, "Set", Name="Mailbox")
    _host(vo, VO10, full=full, v11=False)
    _resources(vo, VO10, url, full=full)
    if full:
        # Pinning and multi-select belong to VersionOverrides 1.1 (Mailbox 1.5); clients that know
        # 1.1 take this part, older ones the 1.0 part above.
        vo11 = etree.SubElement(vo, f"{{{VO11}}}VersionOverrides", nsmap={None: VO11})
        vo11.set(f"{{{XSI}}}type", "VersionOverridesV1_1")
        sets = _e(_e(vo11, VO11, "Requirements"), BT, "Sets", DefaultMinVersion="1.5")
        _e(sets, BT, "Set", Name="Mailbox")
        _host(vo11, VO11, full=True, v11=True)
        _resources(vo11, VO11, url, full=True)
    data = bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
    found = problems(data, url)
    if found:  # a bug here, not the user's: say what is wrong rather than write a bad file
        raise ConfigError("; ".join(found), title="Manifest not written")
    return data


@functools.cache
def _schema() -> Any:
    # The imports between the schema files are resolved from the same folder; no network.
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(SCHEMA), parser))


def schema_errors(root: Any) -> list[str]:
    """Where ``root`` breaks the MS-OWEMXML schemas (empty when it is valid)."""
    schema = _schema()
    if schema.validate(root):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def problems(data: bytes, url: str) -> list[str]:
    """Schema violations and documented rules the manifest breaks (empty when none)."""
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    out = schema_errors(root)
    if root.tag != f"{{{NS}}}OfficeApp" or root.get(f"{{{XSI}}}type") != "MailApp":
        return ["the root must be OfficeApp (appforoffice/1.1) of type MailApp"]
    names = [etree.QName(c).localname for c in root if isinstance(c.tag, str)]
    if [n for n in TOP_ORDER if n in names] != names:
        out.append(f"OfficeApp's children are out of order: {names}")
    for required in ("Id", "Version", "ProviderName", "DefaultLocale", "DisplayName", "Description",
                     "IconUrl", "Hosts", "Requirements", "FormSettings", "Permissions", "Rule"):  # fmt: skip
        if required not in names:
            out.append(f"{required} is missing")
    if not re.fullmatch(r"[0-9a-fA-F-]{36}", root.findtext(f"{{{NS}}}Id") or ""):
        out.append("Id must be a GUID")
    if not re.fullmatch(r"\d{1,5}(\.\d{1,5}){0,3}", root.findtext(f"{{{NS}}}Version") or ""):
        out.append("Version must be n[.n[.n[.n]]]")
    if root.findtext(f"{{{NS}}}Permissions") not in (
        "Restricted",
        "ReadItem",
        "ReadWriteItem",
        "ReadWriteMailbox",
    ):
        out.append("Permissions has an unknown value")
    ids: set[str] = set()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        value = el.get("DefaultValue")
        local = etree.QName(el).localname
        if (
            value is not None
            and local
            in (
                "Image",
                "Url",
                "IconUrl",
                "HighResolutionIconUrl",
                "SourceLocation",
            )
            and not value.startswith(url)
        ):
            out.append(f"{local} {value} is not under {url} (HTTPS)")
        if etree.QName(el).namespace == BT and local in ("Image", "Url", "String") and el.get("id"):
            if len(el.get("id")) > 32:
                out.append(f"resource id {el.get('id')} is longer than 32 characters")
            parent = etree.QName(el.getparent()).localname
            limit = {"ShortStrings": 125, "LongStrings": 250}.get(parent)
            if limit and len(value or "") > limit:
                out.append(f"{el.get('id')} is longer than {limit} characters")
            ids.add(f"{parent}:{el.get('id')}")
    for el in root.iter():
        resid = el.get("resid") if isinstance(el.tag, str) else None
        if resid and not any(i.endswith(f":{resid}") for i in ids):
            out.append(f"resid {resid} names no resource")
    return out


def export(target: Path) -> list[Path]:
    """Copy the static files (and icons) to publish at the base URL."""
    written: list[Path] = []
    for name in [*STATIC_FILES, *(f"assets/icon-{s}.png" for s in (16, 32, 64, 80, 128))]:
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOURCE / name, dest)
        written.append(dest)
    return written


def main(args: Any) -> int:
    from addin.cli_output import emit

    if args.action == "files":
        if not args.output:
            raise ConfigError("'outlook-addin files' needs --output DIR.", title="Folder needed")
        written = export(Path(args.output))
        emit(args, {"files": [str(p) for p in written]}, f"Copied {len(written)} files to {args.output}.")
        return 0
    if not args.base_url:
        raise ConfigError("'outlook-addin manifest' needs --base-url https://…", title="Base URL needed")
    data = manifest(args.base_url, full=args.full)
    if args.output:
        Path(args.output).write_bytes(data)
        emit(args, {"manifest": args.output}, f"Wrote {args.output}.")
    else:
        import sys

        sys.stdout.write(data.decode("utf-8"))
    return 0
