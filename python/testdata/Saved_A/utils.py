def helper(v):
    return "A:%d" % (v * 10)
