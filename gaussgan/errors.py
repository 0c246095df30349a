"""The one exception type for problems a user can cause (bad input, missing files).

Scripts print it as ``error: <message>`` on stderr and exit with status 2;
any other exception is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input; the message says what was wrong and what was expected."""
