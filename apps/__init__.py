"""The six services as make up, compose and Kubernetes run them: the reference's, with what the lab adds."""
