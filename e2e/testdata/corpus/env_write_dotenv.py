# Fused docs: core-concepts/content-management/environment-variables.mdx
#   (https://docs.fused.io/core-concepts/content-management/environment-variables),
#   the File UDF that writes the .env file.
# Data swapped: env_file_path '/mnt/cache/.env' -> 'mnt/cache/.env' (Fused's shared
#   disk: a folder in the server's working directory that the test creates).
import fused


@fused.udf
def udf():
    env_vars = """
    MY_ENV_VAR=123
    """

    # Path to .env file in disk file system
    env_file_path = 'mnt/cache/.env'

    # Write the environment variables to the .env file
    with open(env_file_path, 'w') as file:
        file.write(env_vars)
