mark = "!"


def loud(s):
    return s.upper()
