"""Table definitions (EntityMetadata, AttributeMetadata, relationships, option sets) generated
from the sandbox's one table schema, so what the metadata says cannot disagree with what the
data endpoints accept (reference/dataverse-metadata.md §1.2).

Ids are stable per name (uuid5), so a client may cache them across restarts as it would a
real organisation's.
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from addin.sandbox.crm.schema import BY_LOGICAL, GLOBAL_OPTION_SETS, TABLES
from addin.sandbox.crm.schema_types import (
    BOOL,
    DEC,
    DT,
    EMAIL_DEFAULT_STATUS,
    EMAIL_STATE_OF_STATUS,
    GUID,
    INT,
    MEMO,
    MONEY,
    PICK,
    STATE,
    STATUS,
    STR,
    Lookup,
    Table,
)

NS = "Microsoft.Dynamics.CRM"
_IDS = uuid.UUID("0c1d2e3f-4a5b-5c6d-7e8f-90a1b2c3d4e5")
LANGUAGE = 1033  # the sandbox organisation's only language (English)

# Object type codes and schema names of the standard tables (their generated references).
_OTC = {
    "account": 1,
    "contact": 2,
    "opportunity": 3,
    "lead": 4,
    "systemuser": 8,
    "incident": 112,
    "activityparty": 135,
    "usersettings": 150,
    "activitymimeattachment": 1001,
    "organization": 1019,
    "queue": 2020,
    "email": 4202,
    "task": 4212,
    "mailbox": 9606,
    "asyncoperation": 4700,
    "sdkmessage": 4606,
    "sdkmessagefilter": 4607,
}
_SCHEMA = {
    "systemuser": "SystemUser",
    "usersettings": "UserSettings",
    "activityparty": "ActivityParty",
    "activitymimeattachment": "ActivityMimeAttachment",
    "asyncoperation": "AsyncOperation",
    "sdkmessage": "SdkMessage",
    "sdkmessagefilter": "SdkMessageFilter",
}
_DISPLAY = {
    "systemuser": ("User", "Users"),
    "usersettings": ("User Settings", "User Settings"),
    "activityparty": ("Activity Party", "Activity Parties"),
    "activitymimeattachment": ("Attachment", "Attachments"),
    "incident": ("Case", "Cases"),
    "opportunity": ("Opportunity", "Opportunities"),
    "mailbox": ("Mailbox", "Mailboxes"),
    "email": ("Email", "Email Messages"),
    "asyncoperation": ("System Job", "System Jobs"),
}
_ACTIVITIES = {"email", "task"}

# Column kind -> (AttributeType, metadata type name)
_KINDS = {
    GUID: ("Uniqueidentifier", "UniqueIdentifierAttributeMetadata"),
    STR: ("String", "StringAttributeMetadata"),
    MEMO: ("Memo", "MemoAttributeMetadata"),
    INT: ("Integer", "IntegerAttributeMetadata"),
    BOOL: ("Boolean", "BooleanAttributeMetadata"),
    DT: ("DateTime", "DateTimeAttributeMetadata"),
    DEC: ("Decimal", "DecimalAttributeMetadata"),
    MONEY: ("Money", "MoneyAttributeMetadata"),
    PICK: ("Picklist", "PicklistAttributeMetadata"),
    STATE: ("State", "StateAttributeMetadata"),
    STATUS: ("Status", "StatusAttributeMetadata"),
}
OPTION_TYPES = {"PicklistAttributeMetadata", "StateAttributeMetadata", "StatusAttributeMetadata"}
OPTION_TYPES |= {"BooleanAttributeMetadata", "MultiSelectPicklistAttributeMetadata"}

# statuscode -> statecode per table (the status option's ``State``); the generic pair otherwise.
_STATE_OF_STATUS: dict[str, dict[int, int]] = {
    "email": EMAIL_STATE_OF_STATUS,
    "lead": {1: 0, 2: 0, 3: 1, 4: 2},
    "opportunity": {1: 0, 2: 0, 3: 1, 4: 2, 5: 2},
    "incident": {1: 0, 2: 0, 3: 0, 5: 1},
    "asyncoperation": {0: 0, 10: 1, 20: 2, 30: 3, 31: 3},
}


def metadata_id(*parts: str) -> str:
    return str(uuid.uuid5(_IDS, ".".join(parts)))


def label(text: str | None) -> dict[str, Any]:
    if not text:
        return {"LocalizedLabels": [], "UserLocalizedLabel": None}
    one = {"Label": text, "LanguageCode": LANGUAGE, "IsManaged": True, "MetadataId": None, "HasChanged": None}
    one["MetadataId"] = metadata_id("label", text)
    return {"LocalizedLabels": [one], "UserLocalizedLabel": dict(one)}


def _managed(value: bool) -> dict[str, Any]:
    return {"Value": value, "CanBeChanged": False, "ManagedPropertyLogicalName": ""}


def schema_name(logical: str) -> str:
    return _SCHEMA.get(logical, logical.capitalize())


# Column schema names are cased by hand in Dataverse; the common ones as the references spell them.
_ATTR_SCHEMA = {
    "statecode": "StateCode",
    "statuscode": "StatusCode",
    "ownerid": "OwnerId",
    "createdon": "CreatedOn",
    "modifiedon": "ModifiedOn",
    "createdby": "CreatedBy",
    "modifiedby": "ModifiedBy",
    "versionnumber": "VersionNumber",
    "fullname": "FullName",
    "firstname": "FirstName",
    "lastname": "LastName",
    "jobtitle": "JobTitle",
    "emailaddress1": "EMailAddress1",
    "emailaddress2": "EMailAddress2",
    "emailaddress3": "EMailAddress3",
    "telephone1": "Telephone1",
    "parentcustomerid": "ParentCustomerId",
    "regardingobjectid": "RegardingObjectId",
    "activityid": "ActivityId",
    "directioncode": "DirectionCode",
    "messageid": "MessageId",
}


def _attr_schema(name: str, table: Table | None = None) -> str:
    if table is not None and name == table.key and name.endswith("id") and name[:-2] == table.logical:
        return schema_name(table.logical) + "Id"
    if name in _ATTR_SCHEMA:
        return _ATTR_SCHEMA[name]
    return "_".join(p.capitalize() for p in name.split("_"))  # address1_city -> Address1_City


def _ownership(table: Table) -> str:
    if "ownerid" in table.lookups:
        return "UserOwned"
    return "OrganizationOwned" if table.logical not in ("activityparty", "activitymimeattachment") else "None"


@cache
def entity(logical: str) -> dict[str, Any]:
    """The EntityMetadata of one table, with its documented properties."""
    table = BY_LOGICAL[logical]
    name, plural = _DISPLAY.get(logical, (schema_name(logical), schema_name(logical) + "s"))
    return {
        "MetadataId": metadata_id("entity", logical),
        "LogicalName": logical,
        "SchemaName": schema_name(logical),
        "EntitySetName": table.entity_set,
        "LogicalCollectionName": table.entity_set,
        "CollectionSchemaName": schema_name(logical) + "s",
        "ObjectTypeCode": _OTC.get(logical, 10000),
        "PrimaryIdAttribute": table.key,
        "PrimaryNameAttribute": table.primary_name,
        "PrimaryImageAttribute": None,
        "DisplayName": label(name),
        "DisplayCollectionName": label(plural),
        "Description": label(f"{name} records in the sandbox organisation."),
        "OwnershipType": _ownership(table),
        "TableType": "Standard",
        "IsActivity": logical in _ACTIVITIES,
        "IsActivityParty": logical in ("account", "contact", "systemuser", "lead", "queue"),
        "IsCustomEntity": False,
        "IsManaged": True,
        "IsPrivate": False,
        "IsIntersect": False,
        "IsLogicalEntity": False,
        "IsValidForAdvancedFind": True,
        "IsOptimisticConcurrencyEnabled": True,
        # The sandbox does ETags, not change tracking (reference/dataverse.md §4.5).
        "ChangeTrackingEnabled": False,
        "HasActivities": logical in ("account", "contact", "lead", "opportunity", "incident"),
        "HasNotes": logical not in ("activityparty", "usersettings", "organization"),
        "CanCreateAttributes": _managed(False),
        "CanBeInManyToMany": _managed(False),
        "IsAuditEnabled": _managed(False),
        "IsCustomizable": _managed(False),
        "IsRenameable": _managed(False),
    }


def _options(table: Table, column: str, kind: str) -> dict[str, Any]:
    labels = table.labels.get(column, {})
    options = []
    for value, text in sorted(labels.items()):
        opt: dict[str, Any] = {
            "Value": value,
            "Color": None,
            "IsManaged": True,
            "ExternalValue": "",
            "ParentValues": [],
            "Tag": None,
            "IsHidden": False,
            "MetadataId": None,
            "HasChanged": None,
            "Label": label(text),
            "Description": label(None),
        }
        if kind == STATE:
            opt["@odata.type"] = f"#{NS}.StateOptionMetadata"
            opt["DefaultStatus"] = _default_status(table, value)
            opt["InvariantName"] = text.replace(" ", "")
        elif kind == STATUS:
            opt["@odata.type"] = f"#{NS}.StatusOptionMetadata"
            opt["State"] = _STATE_OF_STATUS.get(table.logical, {1: 0, 2: 1}).get(value, 0)
            opt["TransitionData"] = None
        options.append(opt)
    global_name = GLOBAL_OPTION_SETS.get((table.logical, column))
    name = global_name or f"{table.logical}_{column}"
    return {
        "MetadataId": metadata_id("optionset", name),
        "Name": name,
        "IsGlobal": global_name is not None,
        "IsCustomOptionSet": False,
        "IsManaged": True,
        "OptionSetType": {PICK: "Picklist", STATE: "State", STATUS: "Status"}[kind],
        "DisplayName": label(_attr_schema(column)),
        "Description": label(None),
        "Options": options,
    }


def _default_status(table: Table, state: int) -> int:
    if table.logical == "email":
        return EMAIL_DEFAULT_STATUS.get(state, 1)
    mapping = _STATE_OF_STATUS.get(table.logical, {1: 0, 2: 1})
    return min((s for s, st in mapping.items() if st == state), default=state + 1)


def _boolean_options(column: str) -> dict[str, Any]:
    no, yes = ("Incoming", "Outgoing") if column == "directioncode" else ("No", "Yes")
    return {
        "MetadataId": metadata_id("optionset", column, "bool"),
        "Name": column,
        "IsGlobal": False,
        "OptionSetType": "Boolean",
        "TrueOption": {"Value": 1, "Label": label(yes), "MetadataId": None, "Color": None},
        "FalseOption": {"Value": 0, "Label": label(no), "MetadataId": None, "Color": None},
    }


def _base_attribute(table: Table, name: str, kind_name: str, type_name: str) -> dict[str, Any]:
    creatable = name not in table.not_for_create
    return {
        "@odata.type": f"#{NS}.{type_name}",
        "MetadataId": metadata_id("attribute", table.logical, name),
        "LogicalName": name,
        "SchemaName": _attr_schema(name, table),
        "EntityLogicalName": table.logical,
        "AttributeType": kind_name,
        "AttributeTypeName": {"Value": f"{kind_name}Type"},
        "AttributeOf": None,
        "ColumnNumber": None,
        "DisplayName": label(_attr_schema(name)),
        "Description": label(None),
        "IsPrimaryId": name == table.key,
        "IsPrimaryName": name == table.primary_name,
        "IsCustomAttribute": False,
        "IsLogical": False,
        "IsManaged": True,
        "IsValidForCreate": creatable,
        "IsValidForUpdate": name not in table.not_for_update,
        "IsValidForRead": True,
        "IsValidODataAttribute": True,
        "RequiredLevel": {
            "Value": "SystemRequired" if name == table.key else "None",
            "CanBeChanged": False,
            "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
        },
    }


@cache
def attributes(logical: str) -> tuple[dict[str, Any], ...]:
    """Every AttributeMetadata of a table, fully typed (the typed properties included)."""
    table = BY_LOGICAL[logical]
    out: list[dict[str, Any]] = []
    for name, kind in table.columns.items():
        if name == "versionnumber":
            attr = _base_attribute(table, name, "BigInt", "BigIntAttributeMetadata")
            out.append(attr)
            continue
        kind_name, type_name = _KINDS[kind]
        attr = _base_attribute(table, name, kind_name, type_name)
        if kind in (STR, MEMO):
            attr["MaxLength"] = 100 if kind == STR else 1048576
            fmt = "Email" if "emailaddress" in name else "Text"
            attr["FormatName"] = {"Value": fmt}
            attr["Format"] = fmt
        elif kind in (PICK, STATE, STATUS):
            options = _options(table, name, kind)
            attr["OptionSet"] = options
            attr["GlobalOptionSet"] = options if options["IsGlobal"] else None
            attr["DefaultFormValue"] = -1
        elif kind == BOOL:
            attr["OptionSet"] = _boolean_options(name)
            attr["GlobalOptionSet"] = None
            attr["DefaultValue"] = False
        elif kind == DT:
            attr["Format"] = "DateAndTime"
            attr["DateTimeBehavior"] = {"Value": "UserLocal"}
        elif kind in (INT, DEC, MONEY):
            attr["MinValue"] = -2147483648 if kind == INT else -100000000000.0
            attr["MaxValue"] = 2147483647 if kind == INT else 100000000000.0
        out.append(attr)
    for lookup in table.lookups.values():
        out.append(_lookup_attribute(table, lookup))
    return tuple(out)


def _lookup_attribute(table: Table, lookup: Lookup) -> dict[str, Any]:
    if lookup.attr == "ownerid":
        kind_name = "Owner"
    elif set(lookup.targets) == {"account", "contact"}:
        kind_name = "Customer"
    else:
        kind_name = "Lookup"
    attr = _base_attribute(table, lookup.attr, kind_name, "LookupAttributeMetadata")
    attr["IsValidForCreate"] = lookup.create
    attr["IsValidForUpdate"] = lookup.update
    attr["Targets"] = list(lookup.targets)
    attr["Format"] = "None"
    return attr


def attribute_type(attr: dict[str, Any]) -> str:
    return str(attr["@odata.type"]).removeprefix(f"#{NS}.")


@cache
def one_to_many() -> tuple[dict[str, Any], ...]:
    """Every 1:N relationship: one per lookup target (a polymorphic lookup has one per target)."""
    rows: list[dict[str, Any]] = []
    for table in TABLES:
        for lookup in table.lookups.values():
            for target in lookup.targets:
                if target not in BY_LOGICAL:
                    continue
                navs = [n for n, t in lookup.navs.items() if t == target]
                # activitypointer's inherited names are not email's own relationships
                own = [n for n in navs if n.endswith(f"_{table.logical}")] or navs
                nav = own[0] if own else lookup.attr
                parent = BY_LOGICAL[target]
                coll = next(
                    (
                        c.name
                        for c in parent.collections.values()
                        if c.child == table.logical and c.child_attr == lookup.attr
                    ),
                    None,
                )
                schema = coll or f"{target}_{table.logical}_{lookup.attr}"
                rows.append(
                    {
                        "@odata.type": f"#{NS}.OneToManyRelationshipMetadata",
                        "MetadataId": metadata_id("relationship", schema, table.logical, lookup.attr, target),
                        "SchemaName": schema,
                        "RelationshipType": "OneToManyRelationship",
                        "IsCustomRelationship": False,
                        "IsManaged": True,
                        "IsValidForAdvancedFind": True,
                        "SecurityTypes": "None",
                        "ReferencedEntity": target,
                        "ReferencedAttribute": parent.key,
                        "ReferencingEntity": table.logical,
                        "ReferencingAttribute": lookup.attr,
                        "ReferencingEntityNavigationPropertyName": nav,
                        "ReferencedEntityNavigationPropertyName": coll or schema,
                        "CascadeConfiguration": {
                            "Assign": "NoCascade",
                            "Delete": "RemoveLink",
                            "Merge": "NoCascade",
                            "Reparent": "NoCascade",
                            "Share": "NoCascade",
                            "Unshare": "NoCascade",
                        },
                    }
                )
    return tuple(rows)


@cache
def global_option_sets() -> tuple[dict[str, Any], ...]:
    found: dict[str, dict[str, Any]] = {}
    for logical, column in GLOBAL_OPTION_SETS:
        table = BY_LOGICAL[logical]
        options = _options(table, column, table.columns[column])
        found[options["Name"]] = {"@odata.type": f"#{NS}.OptionSetMetadata", **options}
    return tuple(found.values())
