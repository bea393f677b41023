def helper(v):
    return "B:%d" % (v * 100)
