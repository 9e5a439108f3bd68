"""
Uploading an exported folder to the Hugging Face Hub.

The folder is written before anything is uploaded, so a failed upload (offline, no token, a bad repository
name) loses nothing: it is reported in one line that says how to upload the folder later.
"""

from gptkit.errors import UserError


def check_repo_id(repo_id):
    """A one-line error for a repository name the Hub would refuse, before any work is done."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise UserError(f"--push_to_hub {repo_id!r} is not a Hub repository name ({str(e).splitlines()[0]})") from None


def push_folder(folder, repo_id, private=False):
    """Upload folder to the model repository repo_id (created if missing); returns the repository's URL."""
    from huggingface_hub import HfApi, get_token

    later = f"the folder {folder} is written; upload it later with `hf upload {repo_id} {folder}`"
    if get_token() is None:
        raise UserError(f"no Hugging Face token (log in with `hf auth login` or set HF_TOKEN): {later}")
    api = HfApi()
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message="Upload from export_hf.py")
    except Exception as e:  # offline mode, network, authorisation: huggingface_hub raises many kinds
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"could not push to {repo_id} ({type(e).__name__}: {reason[:200]}): {later}") from None
    return str(url)
