"""Domain errors. Each message is written for the person who typed the command."""


class ScribeError(Exception):
    """A problem the user can fix; its message is shown to them as is."""


class NoOpenIncident(ScribeError):
    def __init__(self, command: str = "/incident"):
        super().__init__(
            f"There is no open incident in this channel. Start one with `{command} start <title> [sev1|sev2|sev3|sev4]`."
        )


class IncidentAlreadyOpen(ScribeError):
    def __init__(self, ref: str, title: str):
        self.ref = ref
        super().__init__(
            f"This channel already has an open incident, {ref} “{title}”. Close it with `/incident close` before starting another."
        )


class NotAllowed(ScribeError):
    """The user may not do this (e.g. only the lead may close the incident)."""
