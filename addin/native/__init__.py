"""Native messaging: ``crm-bridge native-host``, the program a Thunderbird add-on (or any
browser extension allowed by the host manifest) talks to, and the local channel it uses to
reach a running bridge."""
