"""The one error every pumpctl command raises for bad input: printed as 'pumpctl: message',
exit status 2."""


class CommandError(Exception):
    pass
