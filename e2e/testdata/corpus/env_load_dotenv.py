# Fused docs: core-concepts/content-management/environment-variables.mdx
#   (https://docs.fused.io/core-concepts/content-management/environment-variables),
#   the UDF that loads the .env file with load_dotenv.
# Data swapped: env_file_path '/mnt/cache/.env' -> 'mnt/cache/.env' (see env_write_dotenv.py).
# Restored: `import os` and the f-string's {os.getenv('MY_ENV_VAR')}.
import fused


@fused.udf
def udf():
    import os
    from dotenv import load_dotenv

    # Load environment variable
    env_file_path = 'mnt/cache/.env'
    load_dotenv(env_file_path, override=True)

    # Access environment variable
    print(f"Updated MY_ENV_VAR: {os.getenv('MY_ENV_VAR')}")
