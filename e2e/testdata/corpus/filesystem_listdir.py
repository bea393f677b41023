# Fused docs: core-concepts/content-management/file-system.mdx
#   (https://docs.fused.io/core-concepts/content-management/file-system), "/mnt/cache disk".
# Data swapped: '/mnt/cache/' -> 'mnt/cache/' (a folder in the server's working
#   directory holding files the test writes).
# Restored: `import os`.
import fused


@fused.udf
def udf():
    import os

    for each in os.listdir('mnt/cache/'):
        print(each)
