"""stub"""


def run(o, tmp):
    return []
