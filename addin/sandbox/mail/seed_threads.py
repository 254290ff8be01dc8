"""The demo conversations in Alex's mailbox, as data.

People are keys: ``alex``, ``c<N>`` (the N-th CRM demo contact), ``m<N>`` (the N-th colleague),
``n<N>`` (a newsletter sender). ``at`` is hours after ``BASE_DATE``. Replies quote the thread's
subject with "RE:" and carry In-Reply-To/References to the previous message.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Msg:
    sender: str
    to: tuple[str, ...]
    at: float
    body: str
    cc: tuple[str, ...] = ()
    attachments: tuple[tuple[str, str], ...] = ()  # (kind, file name)
    sensitivity: str = ""
    html: bool = False
    read: bool = True
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Thread:
    subject: str
    messages: tuple[Msg, ...]
    forward: bool = False


def _t(subject: str, *messages: Msg, forward: bool = False) -> Thread:
    return Thread(subject, tuple(messages), forward)


THREADS: list[Thread] = [
    _t(
        "Quote for 50 Surface licences",
        Msg(
            "c0",
            ("alex",),
            2,
            "Hi Alex,\n\nCould you send us a quote for 50 licences, with onboarding?\n\nThanks,\nJane",
        ),
        Msg(
            "alex",
            ("c0",),
            5,
            "Hi Jane,\n\nPlease find the quote attached. It is valid for 30 days.\n\nBest,\nAlex",
            attachments=(("pdf", "Quote-Q-1042.pdf"), ("xlsx", "Quote-Q-1042.xlsx")),
        ),
        Msg(
            "c0",
            ("alex",),
            26,
            "Thanks Alex, I'll review it with our CFO and get back to you by Friday.",
            cc=("c1",),
            read=False,
        ),
    ),
    _t(
        "Renewal of the support contract",
        Msg(
            "c3",
            ("alex",),
            8,
            "Hello Alex,\n\nOur support contract ends next month. What are the renewal options?",
        ),
        Msg(
            "alex",
            ("c3",),
            10,
            "Hi Kenji,\n\nWe can renew for 12 or 24 months; the 24-month term has a 10% discount.",
            cc=("m0",),
        ),
        Msg("c3", ("alex",), 30, "24 months sounds good. Please send the paperwork."),
        Msg(
            "alex",
            ("c3",),
            33,
            "Great - paperwork attached, please sign page 3.",
            attachments=(("pdf", "Support-Renewal-24m.pdf"),),
        ),
    ),
    _t(
        "Site visit next Tuesday",
        Msg(
            "alex",
            ("c6",),
            12,
            "Hi,\n\nI'd like to visit your Redmond office next Tuesday at 10:00. Invitation attached.",
            attachments=(("ics", "Site visit.ics"),),
        ),
        Msg("c6", ("alex",), 14, "Tuesday at 10 works. See you then!"),
    ),
    _t(
        "Invoice 2026-1187 question",
        Msg(
            "c9",
            ("alex",),
            20,
            "Hi Alex, line 4 of invoice 2026-1187 looks duplicated. Can you check?",
            attachments=(("png", "invoice-line4.png"),),
        ),
        Msg(
            "alex", ("c9",), 22, "You're right - our billing team will issue a credit note today.", cc=("m2",)
        ),
        Msg("c9", ("alex",), 47, "Credit note received, thank you.", read=False),
    ),
    _t(
        "Personal: dinner on Saturday",
        Msg(
            "c12",
            ("alex",),
            28,
            "Alex, are we still on for dinner on Saturday? Bring the kids!",
            sensitivity="Private",
        ),
    ),
    _t(
        "Pilot results",
        Msg(
            "c15",
            ("alex",),
            36,
            "<p>Hi Alex,</p><p>The <b>pilot</b> went well. Results attached.</p>",
            attachments=(("xlsx", "Pilot-results.xlsx"), ("txt", "pilot-notes.txt")),
            html=True,
        ),
        Msg("alex", ("c15",), 40, "<p>Excellent news! Shall we plan the roll-out call?</p>", html=True),
        Msg("c15", ("alex",), 52, "<p>Yes - how about Thursday?</p>", html=True, read=False),
    ),
    _t(
        "Introduction: Contoso and Northwind",
        Msg(
            "alex",
            ("c18",),
            44,
            "Hello Priya,\n\nLee suggested I reach out. We help companies like Northwind "
            "bridge their sales mail with the CRM. Would you have 20 minutes next week?",
            cc=("m2",),
        ),
    ),
    _t(
        "Delivery delay",
        Msg("c21", ("alex",), 50, "Alex, the scanners we ordered haven't arrived. Any news?"),
        Msg(
            "alex",
            ("c21",),
            51,
            "Sorry about that - the carrier says Thursday. Tracking details attached.",
            attachments=(("txt", "tracking.txt"),),
        ),
    ),
    _t(
        "Training dates",
        Msg("c24", ("alex",), 56, "Could you propose two dates for the admin training?"),
        Msg(
            "alex",
            ("c24",),
            58,
            "How about the 16th or the 18th? Both 9:00-12:00.",
            attachments=(("ics", "Admin training.ics"),),
        ),
        Msg("c24", ("alex",), 70, "The 18th, please."),
    ),
    _t(
        "Price list 2027",
        Msg(
            "alex",
            ("c27", "c28"),
            60,
            "Hello both,\n\nAttached is our price list for 2027.",
            attachments=(("pdf", "Price-list-2027.pdf"),),
        ),
    ),
    _t(
        "Contract amendment",
        Msg(
            "c30",
            ("alex",),
            64,
            "Hi Alex, we need to add two sites to the contract. What do you need from us?",
        ),
        Msg("alex", ("c30",), 66, "Just the site addresses and a contact per site.", cc=("m1",)),
        Msg("c30", ("alex",), 75, "Here they are.", attachments=(("txt", "sites.txt"),), read=False),
    ),
    _t(
        "Demo feedback",
        Msg("c33", ("alex",), 72, "Thanks for the demo yesterday. The team liked the tracking feature most."),
    ),
    _t(
        "Reference call request",
        Msg(
            "alex", ("c36",), 76, "Hi,\n\nWould you be willing to do a short reference call with a prospect?"
        ),
        Msg("c36", ("alex",), 80, "Happy to help. Send me a time."),
    ),
    _t(
        "Security questionnaire",
        Msg(
            "c39",
            ("alex",),
            84,
            "Please fill in the attached security questionnaire.",
            attachments=(("xlsx", "Security-questionnaire.xlsx"),),
        ),
        Msg(
            "alex",
            ("c39",),
            96,
            "Completed questionnaire attached.",
            cc=("m3",),
            attachments=(("xlsx", "Security-questionnaire-completed.xlsx"),),
        ),
    ),
    _t(
        "Order confirmation PO-7781",
        Msg(
            "c42", ("alex",), 90, "Please confirm receipt of PO-7781.", attachments=(("pdf", "PO-7781.pdf"),)
        ),
        Msg("alex", ("c42",), 91, "Received, thank you. Delivery in two weeks."),
    ),
    _t(
        "Webinar follow-up",
        Msg(
            "alex",
            ("c45",),
            98,
            "Thanks for joining our webinar. The slides are attached.",
            attachments=(("pdf", "Webinar-slides.pdf"),),
        ),
    ),
    _t(
        "Budget approval",
        Msg("c48", ("alex",), 100, "Good news: the budget was approved. Next steps?"),
        Msg("alex", ("c48",), 102, "Wonderful! I'll send the order form tomorrow."),
        Msg("alex", ("c48",), 120, "Order form attached.", attachments=(("pdf", "Order-form.pdf"),)),
    ),
    _t(
        "Logo for the case study",
        Msg(
            "c51", ("alex",), 104, "Here is our logo for the case study.", attachments=(("png", "logo.png"),)
        ),
    ),
    _t(
        "Meeting notes",
        Msg(
            "alex",
            ("c54",),
            110,
            "Notes from today's meeting attached.",
            attachments=(("txt", "meeting-notes.txt"),),
        ),
        Msg(
            "c54",
            ("alex",),
            112,
            "Thanks, one correction: the go-live is in March, not February.",
            read=False,
        ),
    ),
    _t(
        "Unsubscribe request",
        Msg("c57", ("alex",), 116, "Please remove me from your mailing list."),
        Msg("alex", ("c57",), 117, "Done - sorry for the noise."),
    ),
    _t(
        "FW: Partner pricing",
        Msg(
            "c2",
            ("alex",),
            118,
            "Forwarding the partner pricing we discussed.",
            attachments=(("pdf", "Partner-pricing.pdf"),),
        ),
    ),
    # Internal mail between colleagues (Alex is a party).
    _t(
        "Q4 pipeline review",
        Msg(
            "m2",
            ("alex", "m0"),
            6,
            "Team, pipeline review on Thursday. Please update your opportunities.",
            attachments=(("xlsx", "Pipeline-Q4.xlsx"),),
        ),
        Msg("alex", ("m2",), 9, "Updated mine. Fabrikam looks likely to close this quarter.", cc=("m0",)),
    ),
    _t(
        "Marketing assets for Fabrikam",
        Msg(
            "m0",
            ("alex",),
            16,
            "Here are the brochure and banner for the Fabrikam pitch.",
            attachments=(("pdf", "Brochure.pdf"), ("png", "banner.png")),
        ),
        Msg("alex", ("m0",), 18, "Perfect, thank you Megan!"),
    ),
    _t(
        "Expense report",
        Msg(
            "alex",
            ("m4",),
            24,
            "Patti, my expense report for the Denver trip is attached.",
            attachments=(("xlsx", "Expenses-Denver.xlsx"),),
        ),
        Msg("m4", ("alex",), 48, "Approved.", read=False),
    ),
    _t(
        "Lunch?",
        Msg("m1", ("alex",), 27, "Lunch at 12:30 today?"),
        Msg("alex", ("m1",), 27.5, "Sure, see you in the lobby."),
    ),
    _t(
        "Handover: Tailspin account",
        Msg(
            "m3",
            ("alex",),
            54,
            "I'm handing the Tailspin account over to you. Contacts and history attached.",
            attachments=(("txt", "tailspin-handover.txt"),),
            cc=("m2",),
        ),
    ),
    _t(
        "Office closed on Friday",
        Msg("m4", ("alex", "m0", "m1", "m2", "m3"), 80, "Reminder: the office is closed on Friday."),
    ),
    _t(
        "CRM Bridge roll-out",
        Msg(
            "m2",
            ("alex",),
            108,
            "<p>We'll roll out <i>CRM Bridge</i> next month. Please be a pilot user.</p>",
            html=True,
        ),
        Msg("alex", ("m2",), 109, "<p>Happy to!</p>", html=True),
    ),
    # Newsletters.
    _t(
        "Industry Weekly: 10 trends for 2027",
        Msg("n0", ("alex",), 3, "<h1>10 trends</h1><p>Read online.</p>", html=True),
    ),
    _t(
        "Industry Weekly: CRM adoption survey",
        Msg("n0", ("alex",), 99, "<h1>Survey</h1><p>Take part.</p>", html=True),
    ),
    _t(
        "Cloud Summit: early-bird tickets",
        Msg("n1", ("alex",), 35, "<p>Early-bird tickets end Friday.</p>", html=True),
    ),
    _t(
        "Cloud Summit: agenda published",
        Msg("n1", ("alex",), 123, "<p>The agenda is online.</p>", html=True, read=False),
    ),
    _t("HR news: open enrolment", Msg("n2", ("alex",), 40, "Open enrolment for benefits starts Monday.")),
    _t(
        "HR news: holiday schedule",
        Msg(
            "n2",
            ("alex",),
            86,
            "The holiday schedule is attached.",
            attachments=(("pdf", "Holidays-2027.pdf"),),
        ),
    ),
    _t(
        "Industry Weekly: security special",
        Msg("n0", ("alex",), 128, "<p>Security special issue.</p>", html=True, read=False),
    ),
    _t(
        "Catalogue request",
        Msg("c5", ("alex",), 125, "Could you send your product catalogue?", read=False),
    ),
    _t(
        "Thank you",
        Msg("c8", ("alex",), 126, "Thank you for the quick support last week!", read=False),
    ),
    _t(
        "Availability for a call",
        Msg("alex", ("c11",), 127, "Are you available for a call on Wednesday at 15:00?"),
    ),
]
