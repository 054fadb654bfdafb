# Packer template for a scaleset runner image on Compute Engine (see ../README.md, "The runner
# image contract"). Build it with:
#
#   packer init runner.pkr.hcl
#   packer build -var project_id=my-project runner.pkr.hcl
#
# and point engine.gcp.image at projects/my-project/global/images/family/scaleset-runner.
# The image holds no credentials: scaleset's startup script starts the runner with a JIT config
# it takes from instance metadata at boot.

packer {
  required_plugins {
    googlecompute = {
      source  = "github.com/hashicorp/googlecompute"
      version = ">= 1.1.0"
    }
  }
}

variable "project_id" {
  type        = string
  description = "Project the image is built and stored in."
}

variable "zone" {
  type    = string
  default = "us-central1-a"
}

variable "runner_version" {
  type        = string
  default     = "2.328.0"
  description = "actions/runner release to install (keep it recent: GitHub refuses old runners)."
}

variable "source_image_family" {
  type    = string
  default = "ubuntu-2404-lts-amd64"
}

source "googlecompute" "runner" {
  project_id          = var.project_id
  zone                = var.zone
  source_image_family = var.source_image_family
  source_image_project_id = ["ubuntu-os-cloud"]
  machine_type        = "e2-standard-2"
  disk_size           = 20
  ssh_username        = "packer"
  image_name          = "scaleset-runner-${formatdate("YYYYMMDDhhmmss", timestamp())}"
  image_family        = "scaleset-runner"
  image_labels = {
    purpose        = "scaleset-runner"
    runner-version = replace(var.runner_version, ".", "-")
  }
}

build {
  sources = ["source.googlecompute.runner"]

  provisioner "shell" {
    script           = "provision.sh"
    environment_vars = ["RUNNER_VERSION=${var.runner_version}"]
    execute_command  = "sudo -E sh '{{ .Path }}'"
  }
}
