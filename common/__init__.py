"""Pieces shared by every service of both stacks: error shapes, JSON codec, request parsing."""
