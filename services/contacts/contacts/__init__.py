"""The contacts service: the outreach case of one person whose contact was lost."""
