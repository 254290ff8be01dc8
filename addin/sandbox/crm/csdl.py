"""``$metadata``: the CSDL (EDMX) service document of the sandbox's tables, generated from the
same schema as the data endpoints, enough for OData client generators
(web-api-service-documents.md, web-api-entitytypes.md; reference/dataverse-metadata.md §1.4)."""

from __future__ import annotations

from functools import cache
from xml.etree import ElementTree as ET

from addin.sandbox.crm.schema import TABLES
from addin.sandbox.crm.schema_types import BOOL, DEC, DT, GUID, INT, MEMO, MONEY, PICK, STATE, STATUS, STR

_EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
_EDM = "http://docs.oasis-open.org/odata/ns/edm"
_EDM_TYPES = {
    GUID: "Edm.Guid",
    STR: "Edm.String",
    MEMO: "Edm.String",
    INT: "Edm.Int32",
    BOOL: "Edm.Boolean",
    DT: "Edm.DateTimeOffset",
    DEC: "Edm.Decimal",
    MONEY: "Edm.Decimal",
    PICK: "Edm.Int32",
    STATE: "Edm.Int32",
    STATUS: "Edm.Int32",
}
# The functions and actions the sandbox answers: (name, is_function, bound entity set or None).
OPERATIONS: tuple[tuple[str, bool, str | None], ...] = (
    ("WhoAmI", True, None),
    ("RetrieveVersion", True, None),
    ("RetrieveAvailableLanguages", True, None),
    ("RetrieveMetadataChanges", True, None),
    ("CheckPromoteEmail", True, None),
    ("SendEmail", False, "email"),
    ("BackgroundSendEmail", False, None),
    ("GetTrackingTokenEmail", False, None),
    ("DeliverPromoteEmail", False, None),
    ("DeliverIncomingEmail", False, None),
    ("BulkDelete", False, None),
    ("CreateMultiple", False, "*"),
    ("UpdateMultiple", False, "*"),
    ("UpsertMultiple", False, "*"),
)
# The properties of each operation's response type; a response with entities or metadata in it
# is an open type (its members are described by the entity types or the metadata endpoints).
RESPONSES: dict[str, dict[str, str] | None] = {
    "WhoAmI": {"BusinessUnitId": "Edm.Guid", "UserId": "Edm.Guid", "OrganizationId": "Edm.Guid"},
    "RetrieveVersion": {"Version": "Edm.String"},
    "RetrieveAvailableLanguages": {"LocaleIds": "Collection(Edm.Int32)"},
    "RetrieveMetadataChanges": None,
    "CheckPromoteEmail": {"ShouldPromote": "Edm.Boolean", "ReasonCode": "Edm.Int32"},
    "SendEmail": {"Subject": "Edm.String"},
    "BackgroundSendEmail": None,
    "GetTrackingTokenEmail": {"TrackingToken": "Edm.String"},
    "DeliverPromoteEmail": {"EmailId": "Edm.Guid"},
    "DeliverIncomingEmail": {"EmailId": "Edm.Guid"},
    "BulkDelete": {"JobId": "Edm.Guid"},
    "CreateMultiple": {"Ids": "Collection(Edm.Guid)"},
}


@cache
def csdl_document() -> bytes:
    ET.register_namespace("edmx", _EDMX)
    root = ET.Element(f"{{{_EDMX}}}Edmx", {"Version": "4.0"})
    services = ET.SubElement(root, f"{{{_EDMX}}}DataServices")
    schema = ET.SubElement(
        services, f"{{{_EDM}}}Schema", {"Namespace": "Microsoft.Dynamics.CRM", "Alias": "mscrm"}
    )
    ET.SubElement(schema, f"{{{_EDM}}}EntityType", {"Name": "crmbaseentity", "Abstract": "true"})
    for table in TABLES:
        entity = ET.SubElement(
            schema, f"{{{_EDM}}}EntityType", {"Name": table.logical, "BaseType": "mscrm.crmbaseentity"}
        )
        key = ET.SubElement(entity, f"{{{_EDM}}}Key")
        ET.SubElement(key, f"{{{_EDM}}}PropertyRef", {"Name": table.key})
        for name, kind in table.columns.items():
            edm = "Edm.Int64" if name == "versionnumber" else _EDM_TYPES[kind]
            ET.SubElement(entity, f"{{{_EDM}}}Property", {"Name": name, "Type": edm})
        for lookup in table.lookups.values():
            ET.SubElement(
                entity, f"{{{_EDM}}}Property", {"Name": f"_{lookup.attr}_value", "Type": "Edm.Guid"}
            )
        for lookup in table.lookups.values():
            for nav, target in lookup.navs.items():
                nav_el = ET.SubElement(
                    entity, f"{{{_EDM}}}NavigationProperty", {"Name": nav, "Type": f"mscrm.{target}"}
                )
                ET.SubElement(
                    nav_el,
                    f"{{{_EDM}}}ReferentialConstraint",
                    {"Property": f"_{lookup.attr}_value", "ReferencedProperty": _key_of(target)},
                )
        for coll in table.collections.values():
            ET.SubElement(
                entity,
                f"{{{_EDM}}}NavigationProperty",
                {"Name": coll.name, "Type": f"Collection(mscrm.{coll.child})"},
            )
    for name, is_function, bound in OPERATIONS:
        bound_tos: list[str | None] = [t.logical for t in TABLES] if bound == "*" else [bound]
        for bound_to in bound_tos:
            attrs: dict[str, str] = {"Name": name}
            if bound_to is not None:
                attrs["IsBound"] = "true"
            op = ET.SubElement(schema, f"{{{_EDM}}}{'Function' if is_function else 'Action'}", attrs)
            if bound_to is not None:
                binding = f"Collection(mscrm.{bound_to})" if bound == "*" else f"mscrm.{bound_to}"
                ET.SubElement(
                    op,
                    f"{{{_EDM}}}Parameter",
                    {"Name": "entityset" if bound == "*" else "entity", "Type": binding, "Nullable": "false"},
                )
            if name in RESPONSES:  # UpdateMultiple and UpsertMultiple return nothing
                ET.SubElement(op, f"{{{_EDM}}}ReturnType", {"Type": f"mscrm.{name}Response"})
    for name, props in RESPONSES.items():
        complex_type = ET.SubElement(
            schema,
            f"{{{_EDM}}}ComplexType",
            {"Name": f"{name}Response", **({"OpenType": "true"} if props is None else {})},
        )
        for prop, edm in (props or {}).items():
            ET.SubElement(complex_type, f"{{{_EDM}}}Property", {"Name": prop, "Type": edm})
    container = ET.SubElement(schema, f"{{{_EDM}}}EntityContainer", {"Name": "System"})
    for table in TABLES:
        ET.SubElement(
            container,
            f"{{{_EDM}}}EntitySet",
            {"Name": table.entity_set, "EntityType": f"mscrm.{table.logical}"},
        )
    for name, is_function, bound in OPERATIONS:
        if bound is None:
            kind = "FunctionImport" if is_function else "ActionImport"
            attr = "Function" if is_function else "Action"
            ET.SubElement(container, f"{{{_EDM}}}{kind}", {"Name": name, attr: f"mscrm.{name}"})
    ET.register_namespace("", _EDM)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _key_of(logical: str) -> str:
    return next(t.key for t in TABLES if t.logical == logical)
