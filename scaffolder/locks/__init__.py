"""Lock files: what is locked (inputs and fingerprints), how (uv/pip resolvers, torch variants,
conda-lock), and the formats written (the pip lock, pylock.toml, conda lock and its pip section)."""
