"""The vendor API's domain: agents as vendors manage them, their lifecycle, provisioning, knowledge uploads,
conversations and character export. No boto3 here: AWS lives behind the ports in `oratio.vendors.ports`."""
