"""Dataverse's e-mail processing codes for a user, as the engine reads them.

``mailbox.incomingemaildeliverymethod`` / ``outgoingemaildeliverymethod`` say who processes
the user's mail; ``usersettings.incomingemailfilteringmethod`` says which incoming mail is
tracked automatically.  Values are Dataverse's option-set numbers (``IntEnum``: they compare
equal to the integers the Web API returns).
"""

from __future__ import annotations

from enum import IntEnum


class DeliveryMethod(IntEnum):
    NONE = 0
    # "Microsoft Dynamics 365 for Outlook": a client on the user's machine — this app.
    THIS_APP = 1
    SERVER_SIDE_SYNC = 2  # the CRM server processes the mail; the bridge must stay out
    FORWARD_MAILBOX = 3  # incoming only


class FilteringMethod(IntEnum):
    ALL_MAIL = 0
    RESPONSES = 1  # replies to mail tracked in the CRM
    FROM_CONTACTS = 2  # from Leads, Contacts and Accounts (Dataverse's default)
    FROM_EMAIL_ENABLED = 3  # from any e-mail-enabled record
    NO_MAIL = 4
