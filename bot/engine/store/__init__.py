"""The index folder, one module per job.

- `layout`: what is where in the folder, the format version, and the settings a build depends on.
- `loading`: check the live build against its recorded hashes, load it, and tell whether it is stale.
- `assembly`: the rows of a new build, article by article, reusing what the previous build holds.
- `publishing`: write a build beside the live one, make it live with one atomic swap, clear old ones.
- `building`: from the seeds folder to a live index, with a report of what changed.
"""
